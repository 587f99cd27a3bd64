"""The PostgreSQL plain-SQL engine against a real server, real pg_dump and real
psql: recognising files, what inspect reports, the \\restrict pair, files
refused before anything runs (meta-commands, truncation), psql's own errors.
What both PostgreSQL engines must do alike (restores new and over an existing
database, failures and a cancel that leave the live database as it was, roles
the server lacks) is in test_engine_pg_restores.py."""

import subprocess

import pytest

from dbkeeper.dburl import DbUrl
from dbkeeper.engines import detect
from dbkeeper.engines.pg_plain import (
    PgPlainEngine, PsqlFeed, RoleFacts, created_table, psql_failure, restrict_supported, statement_roles,
)
from dbkeeper.engines.sqlscan import SqlScanner
from dbkeeper.errors import BackupRejected
from dbkeeper.procs import Tool, pg_tool
from dbkeeper.targets.postgres import PostgresTarget

from .pgsources import PLAIN_SOURCE_TABLES as SOURCE_TABLES
from .pipeline import assert_unchanged_and_clean, make_live, restore, scratch_left

pytestmark = pytest.mark.django_db(transaction=True)

# -- recognising and describing -----------------------------------------------------

def test_sniff_claims_sql_and_nothing_else(plain_source, tmp_path):
    engine = PgPlainEngine()
    _, dumps = plain_source
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


def test_inspect_reports_tables_versions_and_sizes(pg, plain_source):
    name, dumps = plain_source
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


def test_truncated_dumps_are_refused(plain_source, tmp_path):
    """Gzipped and cut in half, it is refused with the live database unchanged
    (test_engine_pg_restores.py, for both formats); here, raw and cut inside
    COPY data, or cut cleanly between two statements."""
    _, dumps = plain_source
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


