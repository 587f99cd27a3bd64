"""What both PostgreSQL engines (custom-format dump through pg_restore, plain
SQL through psql) must do alike, against a real server and the real tools:
restore into a new database and over an existing one, refuse a truncated
file, fail halfway or be cancelled with the live database left as it was,
and restore objects of roles the server lacks or the user may not act as.
What only one format has stays in test_engine_pg_custom.py and
test_engine_pg_plain.py."""

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

import pytest
from django.db import connections

from dbkeeper.engines.pg_custom import PgCustomEngine
from dbkeeper.engines.pg_plain import PgPlainEngine
from dbkeeper.operations import runner, service
from dbkeeper.operations.models import Operation, PreRestoreCopy
from dbkeeper.targets.postgres import is_sibling

from .builders import dump_custom, dump_plain
from .dbsnapshot import pg_snapshot
from .pgserver import PASSWORD, conninfo
from .pipeline import assert_unchanged_and_clean, events, make_live, restore, scratch_left
from .translated import assert_translated, in_arabic

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Engine:
    """One engine's files and the sentences and checks that differ between the formats."""
    name: str
    source_db: str
    fresh: object               # restored into a new database
    existing: object            # restored over an existing one
    compressed: object          # cut in half for the truncated-file test
    slow: object                # takes seconds to restore
    tool_session: str           # application_name of the tool's sessions
    live_rows: int
    dump: Callable              # dump(pg, dbname, path)
    engine: object
    truncated: str              # how the refusal of a truncated file begins
    gone_roles_note: Callable   # checks the event about missing roles
    gone_roles_details: list
    not_superuser_note: str     # what the event says about the connecting user's role


def custom_gone_roles_note(note, owner, reader):
    assert reader in note and "grants" in note


def plain_gone_roles_note(note, owner, reader):
    assert note.startswith(f"The backup refers to roles this server does not have ({reader}, {owner}): ")
    assert note.endswith("the ownership or privilege statements naming them were left out.")


@pytest.fixture(params=["custom", "plain"])
def engine(request, slow_dumps):
    if request.param == "custom":
        name, dumps = request.getfixturevalue("custom_source")
        return Engine(
            name="custom", source_db=name, fresh=dumps["gzip"], existing=dumps["none"], compressed=dumps["gzip"],
            slow=slow_dumps["custom"], tool_session="dbkeeper pg_restore", live_rows=500, dump=dump_custom,
            engine=PgCustomEngine(), truncated="The dump is truncated: it ends inside the data of table ",
            gone_roles_note=custom_gone_roles_note, gone_roles_details=["(GRANT/REVOKE)"],
            not_superuser_note="now belong to {app}",
        )
    name, dumps = request.getfixturevalue("plain_source")
    return Engine(
        name="plain", source_db=name, fresh=dumps["raw"], existing=dumps["gzip"], compressed=dumps["gzip"],
        slow=slow_dumps["plain"], tool_session="dbkeeper psql", live_rows=300, dump=dump_plain,
        engine=PgPlainEngine(), truncated="The gzipped SQL file is damaged or cut short: ",
        gone_roles_note=plain_gone_roles_note, gone_roles_details=[], not_superuser_note="belong to {app}",
    )


def drop_with_siblings(pg, dbname):
    for db in pg.databases():
        if db == dbname or is_sibling(dbname, db):
            pg.drop_db(db)


# -- restores through the pipeline --------------------------------------------------

def check_custom_restored(pg, dbname, caplog):
    with pg.connect(dbname) as conn:
        assert conn.execute("SELECT last_value FROM shop.order_no").fetchone()[0] == 4999
        assert conn.execute("SELECT count(*) FROM shop.order_totals").fetchone()[0] == 3000
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'lines_sku'").fetchone()[0] == 1
        large = conn.execute("SELECT convert_from(lo_get(oid), 'UTF8') FROM pg_largeobject_metadata").fetchall()
        assert large == [("large object ✓ " * 2000,)]


def check_plain_restored(pg, dbname, caplog):
    with pg.connect(dbname) as conn:
        assert conn.execute("SELECT shop.slashes(%s)", ("a\\b\\c",)).fetchone()[0] == "a/b/c"
        assert conn.execute("SELECT count(*) FROM shop.totals").fetchone()[0] == 800
        assert conn.execute("SELECT last_value FROM shop.order_no").fetchone()[0] == 1299
        assert conn.execute("SELECT obj_description('people'::regclass)").fetchone()[0] == "who is who, back\\slash included"
    runs = [r.getMessage() for r in caplog.records if r.name == "dbkeeper.procs" and "psql" in r.getMessage()]
    assert len(runs) == 1 and "ON_ERROR_STOP=1" in runs[0] and PASSWORD not in runs[0]


def test_restore_into_a_new_database(pg, pg_dbname, engine, caplog):
    caplog.set_level(logging.INFO, logger="dbkeeper.procs")
    seen = []
    op = restore(pg, engine.fresh, pg_dbname, listener=lambda o: seen.append((o.stage, o.done, o.total, o.unit)))
    assert op.status == "succeeded", op.error_message
    assert op.percent == 100
    assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, engine.source_db))
    # While restoring, progress counted bytes (the table data, or the SQL file), up to all of them.
    if engine.name == "custom":
        size = engine.engine.inspect(engine.fresh).details["data_size"]
    else:
        size = engine.fresh.stat().st_size
    restoring = [(done, total, unit) for stage, done, total, unit in seen if stage == "restoring" and unit]
    assert restoring[-1] == (size, size, "bytes")
    assert op.result["prerestore"] is None and not PreRestoreCopy.objects.exists()
    assert scratch_left(pg, pg_dbname) == []
    {"custom": check_custom_restored, "plain": check_plain_restored}[engine.name](pg, pg_dbname, caplog)


def test_restore_over_an_existing_database_keeps_a_prerestore_copy(pg, pg_dbname, engine):
    before = make_live(pg, pg_dbname, rows=engine.live_rows)
    op = restore(pg, engine.existing, pg_dbname)
    assert op.status == "succeeded", op.error_message
    assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, engine.source_db))
    copy = PreRestoreCopy.objects.get()
    assert copy.name == op.prerestore_name and is_sibling(pg_dbname, copy.name) and "__prerestore_" in copy.name
    assert pg_snapshot(conninfo(pg, copy.name)) == before
    assert scratch_left(pg, pg_dbname) == []


# -- refused before anything runs ------------------------------------------------------

def test_a_truncated_file_is_refused_in_validation(pg, pg_dbname, engine, tmp_path):
    before = make_live(pg, pg_dbname, rows=engine.live_rows)
    data = engine.compressed.read_bytes()
    half = tmp_path / ("half" + "".join(engine.compressed.suffixes))
    half.write_bytes(data[: len(data) // 2])
    op = restore(pg, half, pg_dbname)
    assert op.status == "failed" and op.error_code == "backup_rejected"
    assert op.error_message.startswith(engine.truncated)
    assert op.stage == "validating" and not op.scratch_name
    assert_unchanged_and_clean(pg, pg_dbname, before, op)


# -- failures while restoring -----------------------------------------------------------

def custom_failing_halfway(pg, engine, tmp_path):
    """The function behind a unique index changed after the index was built:
    the data loads, then building the index fails on duplicates."""
    src = "pgc_fails_source"
    pg.drop_db(src)
    pg.create_db(src)
    with pg.connect(src) as conn:
        conn.execute("CREATE FUNCTION public.bucket(i int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT i'")
        conn.execute("CREATE TABLE public.t (i int)")
        conn.execute("INSERT INTO public.t SELECT generate_series(1, 1000)")
        conn.execute("CREATE UNIQUE INDEX t_bucket ON public.t (public.bucket(i))")
        conn.execute("CREATE OR REPLACE FUNCTION public.bucket(i int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT i % 10'")
    dump = dump_custom(pg, src, tmp_path / "fails.dump")
    pg.drop_db(src)

    def check(op):
        assert op.error_message.startswith("pg_restore failed on INDEX t_bucket: ")
        assert 'could not create unique index "t_bucket"' in op.error_message
        assert "is duplicated" in op.error_message
        assert op.percent > 3  # the data had gone in before it failed
    return dump, check


def plain_failing_halfway(pg, engine, tmp_path):
    """A statement on a table that does not exist, after the first table's data."""
    text = engine.fresh.read_bytes()
    after_data = text.index(b"\n\\.\n", text.index(b"COPY public.people")) + 4
    broken = tmp_path / "broken.sql"
    broken.write_bytes(text[:after_data] + b"SELECT * FROM no_such_table;\n" + text[after_data:])
    line = text[:after_data].count(b"\n") + 1

    def check(op):
        assert op.error_message == (
            f'psql stopped at an error: ERROR: relation "no_such_table" does not exist (line {line} of the SQL file).'
        )
    return broken, check


def test_a_restore_failing_halfway_leaves_the_live_database_alone(pg, pg_dbname, engine, tmp_path):
    make_broken = {"custom": custom_failing_halfway, "plain": plain_failing_halfway}[engine.name]
    broken, check = make_broken(pg, engine, tmp_path)
    before = make_live(pg, pg_dbname, rows=engine.live_rows)
    seen = []
    op = restore(pg, broken, pg_dbname, listener=lambda o: seen.append(o.done))
    assert op.status == "failed" and op.error_code == "restore_failed"
    check(op)
    assert max(seen) > 0  # it had gone some way
    assert_unchanged_and_clean(pg, pg_dbname, before, op)


def test_cancel_while_the_tool_copies_a_table(pg, pg_dbname, engine):
    before = make_live(pg, pg_dbname, rows=engine.live_rows)
    op = service.create_restore(engine.slow, pg.url(pg_dbname))

    def work():
        try:
            runner.run(op.id)
        finally:
            connections.close_all()

    worker = threading.Thread(target=work)
    worker.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stage = Operation.objects.values_list("stage", flat=True).get(pk=op.pk)
        with pg.connect() as conn:
            copying = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND query LIKE 'COPY%%'",
                (engine.tool_session,)).fetchone()[0]
        if stage == "restoring" and copying:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the restore never started copying")
    with pg.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_stat_progress_copy").fetchone()[0] == 1
    service.cancel(op, by="test")
    worker.join(timeout=60)
    assert not worker.is_alive()
    op.refresh_from_db()
    assert op.status == "cancelled" and op.error_message == "The restore was cancelled."
    assert_unchanged_and_clean(pg, pg_dbname, before, op)
    with pg.connect() as conn:
        left = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                            (engine.tool_session,)).fetchone()[0]
    assert left == 0


# -- roles ---------------------------------------------------------------------------------

def test_objects_of_roles_the_server_lacks_go_to_the_database_owner_role(pg, pg_dbname, engine, tmp_path):
    """Through a superuser target, objects never go to the superuser: with no
    live database, they go to a NOLOGIN role dbkeeper creates for it."""
    prefix = "pgc" if engine.name == "custom" else "plain"
    owner, reader, src = f"{prefix}_gone_owner", f"{prefix.title()} Gone Reader", f"{prefix}_roles_source"
    with pg.connect() as conn:
        for role in (owner, reader):
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')
            conn.execute(f'CREATE ROLE "{role}"')
    pg.drop_db(src)
    with pg.connect() as conn:
        conn.execute(f'CREATE DATABASE "{src}" OWNER "{owner}"')
    with pg.connect(src) as conn:
        conn.execute(f'CREATE SCHEMA ledger AUTHORIZATION "{owner}"')
        conn.execute(f'SET ROLE "{owner}"')
        conn.execute("CREATE TABLE ledger.entries (id int PRIMARY KEY, amount numeric)")
        conn.execute("INSERT INTO ledger.entries SELECT g, g * 1.5 FROM generate_series(1, 100) g")
        conn.execute(f'GRANT SELECT ON ledger.entries TO "{reader}"')
        conn.execute("RESET ROLE")
    dump = engine.dump(pg, src, tmp_path / ("roles.dump" if engine.name == "custom" else "roles.sql"))
    expected = pg_snapshot(conninfo(pg, src))
    pg.drop_db(src)
    with pg.connect() as conn:
        conn.execute(f'DROP ROLE "{owner}"')
        conn.execute(f'DROP ROLE "{reader}"')
    if engine.name == "plain":
        assert f'OWNER TO {owner};'.encode() in dump.read_bytes()

    roles = engine.engine.inspect(dump).details["roles"]
    assert owner in roles and reader in roles
    op = restore(pg, dump, pg_dbname)
    assert op.status == "succeeded", op.error_message
    assert pg_snapshot(conninfo(pg, pg_dbname)) == expected
    note = next(m for m in events(op) if "does not have" in m)
    engine.gone_roles_note(note, owner, reader)
    # Stored in English, shown in the reader's language with the role names kept.
    assert_translated(note, in_arabic(note), details=[reader, *engine.gone_roles_details])
    handed = next(m for m in events(op) if "now belong to" in m)
    assert owner in handed and f"now belong to {pg_dbname}_owner" in handed
    with pg.connect(pg_dbname) as conn:
        table_owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'entries'").fetchone()[0]
        schema_owner = conn.execute("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'ledger'").fetchone()[0]
        db_owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()").fetchone()[0]
    assert table_owner == schema_owner == db_owner == f"{pg_dbname}_owner"


def test_a_user_who_is_not_superuser_restores_objects_owned_by_others(pg, pg_dbname, engine):
    """The usual Django set-up: the application's role may create databases but
    may not act as postgres, who owns everything in the dump."""
    app, password = f"{engine.name}_app", "app-pw-1"
    with pg.connect() as conn:
        conn.execute(f"DROP ROLE IF EXISTS {app}")
        conn.execute(f"CREATE ROLE {app} LOGIN CREATEDB PASSWORD '{password}'")
    try:
        url = f"postgresql://{app}:{password}@127.0.0.1:{pg.port}/{pg_dbname}"
        op = service.create_restore(engine.fresh, url)
        runner.run(op.id)
        op.refresh_from_db()
        assert op.status == "succeeded", op.error_message
        assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, engine.source_db))
        note = next(m for m in events(op) if "may not act as" in m)
        assert f"roles {app} may not act as (postgres)" in note
        assert engine.not_superuser_note.format(app=app) in note
        with pg.connect(pg_dbname) as conn:
            owners = {r[0] for r in conn.execute(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")}
        assert owners == {app}
    finally:
        drop_with_siblings(pg, pg_dbname)
        with pg.connect() as conn:
            conn.execute(f"DROP ROLE IF EXISTS {app}")
