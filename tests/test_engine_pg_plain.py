"""The PostgreSQL plain-SQL engine against a real server, real pg_dump and real
psql: recognising files, what inspect reports, restores through the whole
pipeline (raw and gzipped, new and over an existing database), files refused
before anything runs, failures and a cancel that leave the live database as
it was, and roles the server lacks."""

import gzip
import logging
import subprocess
import threading
import time

import pytest
from django.db import connections

from dbkeeper.dburl import DbUrl
from dbkeeper.engines import detect
from dbkeeper.engines.pg_plain import (
    PgPlainEngine, PsqlFeed, RoleFacts, created_table, psql_failure, restrict_supported, statement_roles,
)
from dbkeeper.engines.sqlscan import SqlScanner
from dbkeeper.errors import BackupRejected
from dbkeeper.operations import runner, service
from dbkeeper.operations.models import PreRestoreCopy
from dbkeeper.procs import Tool, pg_tool
from dbkeeper.targets.postgres import PostgresTarget, is_sibling

from .dbsnapshot import pg_snapshot
from .pipeline import assert_unchanged_and_clean, conninfo, events, restore, scratch_left
from .pipeline import make_live as _make_live
from .pgserver import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

SOURCE_TABLES = {"public.people", "shop.orders", "Audit Trail.Event Log", "shop.empty"}


def build_source(pg, name):
    """Several schemas (one with a name that needs quotes), bytea, unicode,
    NULLs and backslashes in the data, a sequence, a view, and a function whose
    $$ body holds a backslash."""
    pg.drop_db(name)
    pg.create_db(name)
    with pg.connect(name) as conn:
        conn.execute('CREATE SCHEMA shop; CREATE SCHEMA "Audit Trail"')
        conn.execute("CREATE TABLE public.people (id serial PRIMARY KEY, name text NOT NULL, photo bytea, note text)")
        conn.execute(
            "INSERT INTO people (name, photo, note) SELECT 'Zoë Ångström ✓ مرحبا ' || g, "
            "CASE WHEN g % 3 = 0 THEN NULL ELSE decode(md5(g::text) || '00ff5c', 'hex') END, "
            "CASE WHEN g % 2 = 0 THEN NULL ELSE E'C:\\\\dir\\\\' || g || E'\\ttab\\nnew line \\\\.' END "
            "FROM generate_series(1, 800) g"
        )
        conn.execute("COMMENT ON TABLE people IS 'who is who, back\\slash included'")
        conn.execute("CREATE SEQUENCE shop.order_no START 100")
        conn.execute(
            "CREATE TABLE shop.orders (id int PRIMARY KEY DEFAULT nextval('shop.order_no'), "
            "person_id int REFERENCES people(id), total numeric(10,2))"
        )
        conn.execute("INSERT INTO shop.orders (person_id, total) SELECT 1 + g % 800, g / 3.0 FROM generate_series(1, 1200) g")
        conn.execute("CREATE TABLE shop.empty (id int)")
        conn.execute('CREATE TABLE "Audit Trail"."Event Log" (at timestamptz, what text)')
        conn.execute("""INSERT INTO "Audit Trail"."Event Log" VALUES ('2024-05-01 10:00+00', 'said "hi" \\! not a command')""")
        conn.execute(
            "CREATE FUNCTION shop.slashes(t text) RETURNS text LANGUAGE plpgsql AS "
            "$$ BEGIN RETURN replace(t, E'\\\\', '/'); END $$"
        )
        conn.execute("CREATE VIEW shop.totals AS SELECT person_id, sum(total) AS total FROM shop.orders GROUP BY 1")


def pg_dump_plain(pg, dbname, path, *extra):
    pg.tool("pg_dump", "-Fp", "-f", str(path), *extra, dbname=dbname)
    return path


def gzipped(path, dest=None):
    dest = dest or path.with_name(path.name + ".gz")
    dest.write_bytes(gzip.compress(path.read_bytes()))
    return dest


@pytest.fixture(scope="module")
def source(pg, tmp_path_factory):
    name = "plain_source"
    build_source(pg, name)
    folder = tmp_path_factory.mktemp("plain")
    dump = pg_dump_plain(pg, name, folder / "source.sql")
    yield name, {"raw": dump, "gzip": gzipped(dump)}
    pg.drop_db(name)


def make_live(pg, dbname):
    return _make_live(pg, dbname, rows=300)


# -- recognising and describing -----------------------------------------------------

def test_sniff_claims_sql_and_nothing_else(source, tmp_path):
    engine = PgPlainEngine()
    _, dumps = source
    assert engine.sniff(dumps["raw"].read_bytes()[:4096])
    assert engine.sniff(b"\xef\xbb\xbf-- a hand-written script\n/* setup */\nCREATE TABLE t (a int);\n")
    assert engine.sniff(b"  insert into t values (1);")
    assert engine.sniff(b"-- leads with a command\n\\connect postgres\n")  # inspect says why it is refused
    for not_sql in [
        b'[{"model": "auth.user", "pk": 1, "fields": {}}]',
        b'{"select": 1}',
        b"SQLite format 3\x00" + bytes(84),
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
        b"PGDMP\x01\x0e\x00\x04\x08\x01\x01",
        b"Hello! This README explains how to select a database.\n",
        b"-- just a comment\n",
        bytes(range(256)),
        b"",
    ]:
        assert not engine.sniff(not_sql), not_sql
    # detect() looks inside a gzipped file; plain SQL is found after the other formats.
    assert detect(dumps["gzip"]).format == "pg_plain"
    text = tmp_path / "notes.txt"
    text.write_bytes(b"Shopping list: eggs, milk; select the ripest pears.\n")
    with pytest.raises(BackupRejected):
        detect(text)


def test_inspect_reports_tables_versions_and_sizes(pg, source):
    name, dumps = source
    info = PgPlainEngine().inspect(dumps["raw"])
    assert info.format == "pg_plain" and info.label == "PostgreSQL plain SQL dump"
    assert set(info.tables) == SOURCE_TABLES
    with pg.connect() as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
    assert info.server_version == server
    assert info.compressed is False and info.size == dumps["raw"].stat().st_size
    details = info.details
    assert details["uncompressed_size"] == info.size
    assert details["copy_blocks"] == 4 and details["copy_rows"] == 800 + 1200 + 1
    assert details["statements"] > 20 and details["pg_dump"] is True
    assert details["restrict"] is True  # this pg_dump writes \restrict / \unrestrict
    assert details["roles"] == ["postgres"]  # named by ALTER ... OWNER TO
    lines = details["restrict_lines"]
    raw = dumps["raw"].read_bytes()
    assert [raw[start:end].split()[0] for start, end in lines] == [b"\\restrict", b"\\unrestrict"]
    packed = PgPlainEngine().inspect(dumps["gzip"])
    assert packed.compressed is True and packed.size == dumps["gzip"].stat().st_size
    assert packed.details == details and packed.tables == info.tables


def test_table_and_role_names_are_read_from_statements():
    found = []
    scanner = SqlScanner(on_statement=found.append)
    scanner.feed(
        b'CREATE TABLE "Odd ""Schema"""."T 1" (a int);\n'
        b"CREATE UNLOGGED TABLE IF NOT EXISTS plain (a int);\n"
        b"CREATE TEMP TABLE scratch (a int);\n"
        b"CREATE VIEW v AS SELECT 1;\n"
        b"ALTER TABLE ONLY public.t OWNER TO \"Mixed Case\";\n"
        b"ALTER FUNCTION public.f(a integer, b text) OWNER TO bob;\n"
        b"ALTER TABLE t ALTER COLUMN a SET DEFAULT 1;\n"
        b"GRANT SELECT,INSERT ON TABLE public.t TO alice;\n"
        b"GRANT ALL ON FUNCTION public.f(a integer, b text) TO PUBLIC;\n"
        b"REVOKE ALL ON SCHEMA public FROM carol, dave;\n"
        b"ALTER DEFAULT PRIVILEGES FOR ROLE erin IN SCHEMA s GRANT SELECT ON TABLES TO frank;\n"
        b"SET SESSION AUTHORIZATION 'gina';\n"
        b"GRANT SELECT ON TABLE t TO hal GRANTED BY ivy;\n"
    )
    scanner.finish()
    assert [created_table(s) for s in found[:4]] == ['Odd "Schema".T 1', "public.plain", None, None]
    assert [statement_roles(s) for s in found[4:]] == [
        (["Mixed Case"], []), (["bob"], []), ([], []), ([], ["alice"]), ([], ["public"]), ([], ["carol", "dave"]),
        (["erin"], ["frank"]), (["gina"], []), (["ivy"], ["hal"]),
    ]


# -- restores through the pipeline ---------------------------------------------------------

def test_restore_into_a_new_database(pg, pg_dbname, source, caplog):
    caplog.set_level(logging.INFO, logger="dbkeeper.procs")
    name, dumps = source
    seen = []
    op = restore(pg, dumps["raw"], pg_dbname, listener=lambda o: seen.append((o.stage, o.done, o.total, o.unit)))
    assert op.status == "succeeded", op.error_message
    assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, name))
    size = dumps["raw"].stat().st_size
    restoring = [(done, total, unit) for stage, done, total, unit in seen if stage == "restoring" and unit]
    assert restoring[-1] == (size, size, "bytes")
    assert op.result["prerestore"] is None and scratch_left(pg, pg_dbname) == []
    with pg.connect(pg_dbname) as conn:
        assert conn.execute("SELECT shop.slashes(%s)", ("a\\b\\c",)).fetchone()[0] == "a/b/c"
        assert conn.execute("SELECT count(*) FROM shop.totals").fetchone()[0] == 800
        assert conn.execute("SELECT last_value FROM shop.order_no").fetchone()[0] == 1299
        assert conn.execute("SELECT obj_description('people'::regclass)").fetchone()[0] == "who is who, back\\slash included"
    runs = [r.getMessage() for r in caplog.records if r.name == "dbkeeper.procs" and "psql" in r.getMessage()]
    assert len(runs) == 1 and "ON_ERROR_STOP=1" in runs[0] and PASSWORD not in runs[0]


def test_gzipped_restore_over_an_existing_database_keeps_a_prerestore_copy(pg, pg_dbname, source):
    name, dumps = source
    before = make_live(pg, pg_dbname)
    op = restore(pg, dumps["gzip"], pg_dbname)
    assert op.status == "succeeded", op.error_message
    assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, name))
    copy = PreRestoreCopy.objects.get()
    assert copy.name == op.prerestore_name and "__prerestore_" in copy.name
    assert pg_snapshot(conninfo(pg, copy.name)) == before
    assert scratch_left(pg, pg_dbname) == []


def test_restrict_pair_is_accepted_and_other_lines_keep_their_numbers(pg, pg_dbname, tmp_path):
    script = tmp_path / "restrict.sql"
    script.write_bytes(
        b"\\restrict Q1w2E3r4\n"
        b"CREATE TABLE public.t (a int, b text);\n"
        b"COPY public.t (a, b) FROM stdin;\n1\t\\\\\n2\t\\N\n\\.\n"
        b"\\unrestrict Q1w2E3r4\n"
    )
    op = restore(pg, script, pg_dbname)
    assert op.status == "succeeded", op.error_message
    with pg.connect(pg_dbname) as conn:
        assert conn.execute("SELECT a, b FROM t ORDER BY a").fetchall() == [(1, "\\"), (2, None)]


# -- refused before anything runs -----------------------------------------------------------

@pytest.mark.parametrize("command, name", [("\\! touch {marker}", "\\!"), ("\\connect postgres", "\\connect")])
def test_meta_commands_are_refused_before_anything_runs(pg, pg_dbname, tmp_path, command, name):
    marker = tmp_path / "marker"
    before = make_live(pg, pg_dbname)
    script = tmp_path / "hostile.sql"
    script.write_text(
        "-- looks like a dump\nCREATE TABLE public.victim (a int);\n"
        f"{command.format(marker=marker)}\n"
        "CREATE TABLE public.after (a int);\n"
    )
    op = restore(pg, script, pg_dbname)
    assert op.status == "failed" and op.error_code == "backup_rejected"
    assert op.error_message.startswith(
        f"The SQL file contains the psql command {name} on line 3; "
        "dbkeeper refuses files that run shell or client commands"
    )
    if name == "\\connect":
        assert "--create" in op.error_message
    assert op.stage == "validating" and not op.scratch_name
    assert not marker.exists()
    assert_unchanged_and_clean(pg, pg_dbname, before, op)


def test_truncated_dumps_are_refused(pg, pg_dbname, source, tmp_path):
    _, dumps = source
    before = make_live(pg, pg_dbname)
    data = dumps["gzip"].read_bytes()
    cut = tmp_path / "cut.sql.gz"
    cut.write_bytes(data[: len(data) // 2])
    op = restore(pg, cut, pg_dbname)
    assert op.status == "failed" and op.error_code == "backup_rejected"
    assert op.error_message.startswith("The gzipped SQL file is damaged or cut short: ")
    assert op.stage == "validating"
    assert_unchanged_and_clean(pg, pg_dbname, before, op)

    # Raw and cut inside COPY data, or cut cleanly between two statements.
    text = dumps["raw"].read_bytes()
    inside = tmp_path / "inside.sql"
    inside.write_bytes(text[: text.index(b"Zo\xc3\xab \xc3\x85ngstr\xc3\xb6m") + 5])
    with pytest.raises(BackupRejected) as err:
        PgPlainEngine().inspect(inside)
    assert err.value.message.startswith("The SQL file ends inside the data of the COPY statement on line ")
    between = tmp_path / "between.sql"
    between.write_bytes(text[: text.index(b"\n\\.\n") + 4])
    with pytest.raises(BackupRejected) as err:
        PgPlainEngine().inspect(between)
    assert "lacks pg_dump's closing line" in err.value.message


def test_psql_itself_refuses_a_meta_command_that_got_past_the_scanner(pg, pg_dbname, tmp_path):
    """Defence in depth: restore puts a \\restrict line of its own first, so
    even a file fed without the scanner's check cannot run a meta-command."""
    psql = pg_tool("psql")
    assert restrict_supported(psql)
    marker = tmp_path / "marker"
    script = tmp_path / "sneaky.sql"
    script.write_text(f"SELECT 1;\n\\! touch {marker}\nSELECT 2;\n")
    pg.create_db(pg_dbname)
    target = PostgresTarget(DbUrl.parse(pg.url(pg_dbname)))
    tool = Tool([psql, "-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-f", "-"], env=target.url.libpq_env(),
                stdin=subprocess.PIPE)
    feed = PsqlFeed(script, tool.proc.stdin, RoleFacts.of(target), guard_key="k3y", known_drops=[])
    feed.run()
    assert tool.wait(timeout=30) == 3 and feed.error is None
    assert not marker.exists()
    assert "backslash commands are restricted" in str(psql_failure(tool, line_shift=1))


# -- failures while restoring ------------------------------------------------------------------

def test_sql_failing_halfway_leaves_the_live_database_alone(pg, pg_dbname, source, tmp_path):
    _, dumps = source
    text = dumps["raw"].read_bytes()
    after_data = text.index(b"\n\\.\n", text.index(b"COPY public.people")) + 4
    broken = tmp_path / "broken.sql"
    broken.write_bytes(text[:after_data] + b"SELECT * FROM no_such_table;\n" + text[after_data:])
    line = text[:after_data].count(b"\n") + 1
    before = make_live(pg, pg_dbname)
    seen = []
    op = restore(pg, broken, pg_dbname, listener=lambda o: seen.append(o.done))
    assert op.status == "failed" and op.error_code == "restore_failed"
    assert op.error_message == (
        f'psql stopped at an error: ERROR: relation "no_such_table" does not exist (line {line} of the SQL file).'
    )
    assert max(seen) > 0  # it had gone some way
    assert_unchanged_and_clean(pg, pg_dbname, before, op)


def test_psql_stopping_early_is_reported_as_its_error(pg, pg_dbname, tmp_path):
    """psql exits at the first error while megabytes are still to come: the
    broken pipe is not the story, psql's error is."""
    script = tmp_path / "early.sql"
    rows = b"".join(b"%d\tsome text for row %d\n" % (i, i) for i in range(150000))
    script.write_bytes(
        b"CREATE TABLE public.t (a int, b text);\nSELECT no_such_function();\n"
        b"COPY public.t (a, b) FROM stdin;\n" + rows + b"\\.\n"
    )
    assert script.stat().st_size > 3_000_000
    op = restore(pg, script, pg_dbname)
    assert op.status == "failed" and op.error_code == "restore_failed"
    assert op.error_message.startswith("psql stopped at an error: ERROR: function no_such_function() does not exist")
    assert op.error_message.endswith("(line 2 of the SQL file).")
    assert scratch_left(pg, pg_dbname) == [] and pg_dbname not in pg.databases()


def build_slow_source(pg, name, rows=2500):
    """Rows whose CHECK calls a function that sleeps, so a restore takes seconds."""
    pg.drop_db(name)
    pg.create_db(name)
    with pg.connect(name) as conn:
        conn.execute("CREATE FUNCTION public.row_ok(v text) RETURNS boolean LANGUAGE sql AS 'SELECT true'")
        conn.execute("CREATE TABLE public.slow (id int PRIMARY KEY, v text CHECK (public.row_ok(v)))")
        conn.execute("INSERT INTO slow SELECT g, md5(g::text) FROM generate_series(1, %s) g", (rows,))
        conn.execute(
            "CREATE OR REPLACE FUNCTION public.row_ok(v text) RETURNS boolean LANGUAGE plpgsql AS "
            "'BEGIN PERFORM pg_sleep(0.002); RETURN true; END'"
        )


def test_cancel_while_psql_runs(pg, pg_dbname, tmp_path):
    src = "plain_slow_source"
    build_slow_source(pg, src)
    dump = pg_dump_plain(pg, src, tmp_path / "slow.sql")
    pg.drop_db(src)
    before = make_live(pg, pg_dbname)
    op = service.create_restore(dump, pg.url(pg_dbname))

    def work():
        try:
            runner.run(op.id)
        finally:
            connections.close_all()

    worker = threading.Thread(target=work)
    worker.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with pg.connect() as conn:
            copying = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbkeeper psql' AND query LIKE 'COPY%%'"
            ).fetchone()[0]
        if copying:
            break
        time.sleep(0.1)
    else:
        pytest.fail("psql never started copying")
    service.cancel(op, by="test")
    worker.join(timeout=60)
    assert not worker.is_alive()
    op.refresh_from_db()
    assert op.status == "cancelled" and op.error_message == "The restore was cancelled."
    assert_unchanged_and_clean(pg, pg_dbname, before, op)
    with pg.connect() as conn:
        left = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbkeeper psql'").fetchone()[0]
    assert left == 0


def test_objects_of_roles_the_server_lacks_are_restored(pg, pg_dbname, tmp_path):
    owner, reader, src = "plain_gone_owner", "Plain Gone Reader", "plain_roles_source"
    with pg.connect() as conn:
        for role in (owner, reader):
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')
            conn.execute(f'CREATE ROLE "{role}"')
    pg.drop_db(src)
    pg.create_db(src)
    with pg.connect(src) as conn:
        conn.execute(f'CREATE SCHEMA ledger AUTHORIZATION "{owner}"')
        conn.execute(f'SET ROLE "{owner}"')
        conn.execute("CREATE TABLE ledger.entries (id int PRIMARY KEY, amount numeric)")
        conn.execute("INSERT INTO ledger.entries SELECT g, g * 1.5 FROM generate_series(1, 100) g")
        conn.execute(f'GRANT SELECT ON ledger.entries TO "{reader}"')
        conn.execute("RESET ROLE")
    dump = pg_dump_plain(pg, src, tmp_path / "roles.sql")
    expected = pg_snapshot(conninfo(pg, src))
    pg.drop_db(src)
    with pg.connect() as conn:
        conn.execute(f'DROP ROLE "{owner}"')
        conn.execute(f'DROP ROLE "{reader}"')
    assert f'OWNER TO {owner};'.encode() in dump.read_bytes()

    assert {owner, reader} <= set(PgPlainEngine().inspect(dump).details["roles"])
    op = restore(pg, dump, pg_dbname)
    assert op.status == "succeeded", op.error_message
    assert pg_snapshot(conninfo(pg, pg_dbname)) == expected
    note = next(m for m in events(op) if "does not have" in m)
    assert note.startswith(f"The backup refers to roles this server does not have ({reader}, {owner}): ")
    assert note.endswith("the ownership or privilege statements naming them were left out.")
    # Through a superuser target the objects never go to the superuser: with
    # no live database, to a NOLOGIN role dbkeeper creates for it.
    handed = next(m for m in events(op) if "now belong to" in m)
    assert owner in handed and f"now belong to {pg_dbname}_owner" in handed
    with pg.connect(pg_dbname) as conn:
        assert conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'entries'").fetchone()[0] == f"{pg_dbname}_owner"
        assert conn.execute("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'ledger'").fetchone()[0] == f"{pg_dbname}_owner"


def test_a_user_who_is_not_superuser_restores_objects_owned_by_others(pg, pg_dbname, source):
    """The usual Django set-up: the application's role may create databases but
    may not act as postgres, who owns everything in the dump."""
    name, dumps = source
    app, password = "plain_app", "app-pw-2"
    with pg.connect() as conn:
        conn.execute(f"DROP ROLE IF EXISTS {app}")
        conn.execute(f"CREATE ROLE {app} LOGIN CREATEDB PASSWORD '{password}'")
    try:
        url = f"postgresql://{app}:{password}@127.0.0.1:{pg.port}/{pg_dbname}"
        op = service.create_restore(dumps["raw"], url)
        runner.run(op.id)
        op.refresh_from_db()
        assert op.status == "succeeded", op.error_message
        assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, name))
        note = next(m for m in events(op) if "may not act as" in m)
        assert f"roles {app} may not act as (postgres)" in note and f"belong to {app}" in note
        with pg.connect(pg_dbname) as conn:
            owners = {r[0] for r in conn.execute(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")}
        assert owners == {app}
    finally:
        for db in pg.databases():
            if db == pg_dbname or is_sibling(pg_dbname, db):
                pg.drop_db(db)
        with pg.connect() as conn:
            conn.execute(f"DROP ROLE IF EXISTS {app}")
