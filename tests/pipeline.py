"""Running a restore through the whole pipeline in the test process, and the
checks every failure test makes: the live database unchanged, nothing left."""

from dbkeeper.operations import runner, service
from dbkeeper.operations.models import PreRestoreCopy
from dbkeeper.targets.postgres import is_sibling

from .dbsnapshot import pg_snapshot
from .pgserver import conninfo


def restore(pg, path, dbname, listener=None):
    op = service.create_restore(path, pg.url(dbname))
    runner.run(op.id, listener=listener)
    op.refresh_from_db()
    return op


def events(op):
    return [e.message for e in op.events.all()]


def scratch_left(pg, dbname):
    return sorted(d for d in pg.databases() if "__dbk_scratch_" in d and is_sibling(dbname, d))


def make_live(pg, dbname, rows=300):
    """An existing target with its own data; returns its snapshot."""
    pg.create_db(dbname)
    with pg.connect(dbname) as conn:
        conn.execute("CREATE TABLE precious (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO precious SELECT g, 'keep me ' || g FROM generate_series(1, %s) g", (rows,))
    return pg_snapshot(conninfo(pg, dbname))


def assert_unchanged_and_clean(pg, dbname, before, op):
    assert pg_snapshot(conninfo(pg, dbname)) == before
    assert scratch_left(pg, dbname) == []
    assert not PreRestoreCopy.objects.exists()
    assert op.scratch_name == "" or op.scratch_name not in pg.databases()
    assert "The live database was not changed." in events(op)


def throwaway_roles(pg):
    """The throwaway restore roles that exist on the server now."""
    from dbkeeper.targets.pgscratch import ROLE_PREFIX

    with pg.connect() as conn:
        return [r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (ROLE_PREFIX + "%",))]
