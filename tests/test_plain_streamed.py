"""``dbkeeper restore FILE`` confirms a plain SQL dump from its schema alone
(preview) and scans the rest on its way to psql: a meta-command or a cut
found there stops the feed before psql gets it, and only the scratch copy,
which is dropped, was written."""

import pytest

from dbkeeper import engines
from dbkeeper.engines.pg_plain import PREVIEW_BYTES, PgPlainEngine
from dbkeeper.operations import runner, service

from .pgsources import PLAIN_SOURCE_TABLES as SOURCE_TABLES
from .pipeline import assert_unchanged_and_clean, make_live, scratch_left

pytestmark = pytest.mark.django_db(transaction=True)


def restore_previewed(pg, path, dbname):
    """As the restore command runs it: the preview it confirmed from is handed to the runner."""
    plan = service.plan_restore(pg.url(dbname), source_path=str(path))
    assert plan.info.details.get("partial") or plan.info.details.get("statements")
    op = service.record(plan)
    runner.run(op.id, inspected=plan.inspected)
    op.refresh_from_db()
    return op


def _rows(n):
    return b"".join(b"%d\tpadding for row %d\n" % (i, i) for i in range(n))


def _dump_with_data_then(tail: bytes) -> bytes:
    """A file whose schema fits the preview, then COPY data beyond PREVIEW_BYTES, then ``tail``."""
    rows = _rows(PREVIEW_BYTES // 20 + 1000)
    assert len(rows) > PREVIEW_BYTES
    return (b"CREATE TABLE public.t (a int, b text);\n"
            b"COPY public.t (a, b) FROM stdin;\n" + rows + b"\\.\n" + tail)


def test_the_preview_reads_the_schema_and_the_restore_learns_the_rest(pg, pg_dbname, plain_source):
    _, dumps = plain_source
    for kind in ("raw", "gzip"):
        engine, info = engines.preview(dumps[kind])
        full = PgPlainEngine().inspect(dumps[kind])
        assert info.details["partial"] is True and set(info.tables) == SOURCE_TABLES
        assert info.server_version == full.server_version and info.details["pg_dump"] is True
        assert info.details["needs"] == full.details["needs"]
    op = restore_previewed(pg, dumps["gzip"], pg_dbname)
    assert op.status == "succeeded", op.error_message
    assert op.result["tables"] == len(SOURCE_TABLES)
    with pg.connect(pg_dbname) as conn:
        assert conn.execute('SELECT count(*) FROM "Audit Trail"."Event Log"').fetchone()[0] >= 1
    assert scratch_left(pg, pg_dbname) == []


@pytest.mark.parametrize("command, name", [("\\! touch {marker}", "\\!"), ("\\connect postgres", "\\connect")])
def test_a_meta_command_past_the_preview_never_reaches_psql(pg, pg_dbname, tmp_path, command, name):
    marker = tmp_path / "marker"
    before = make_live(pg, pg_dbname)
    script = tmp_path / "hostile.sql"
    script.write_bytes(_dump_with_data_then(command.format(marker=marker).encode() + b"\nCREATE TABLE public.after (a int);\n"))
    line = script.read_bytes().count(b"\n", 0, script.read_bytes().index(b"\\.\n") + 3) + 1
    op = restore_previewed(pg, script, pg_dbname)
    assert op.status == "failed" and op.error_code == "backup_rejected"
    assert op.error_message.startswith(
        f"The SQL file contains the psql command {name} on line {line}; "
        "dbkeeper refuses files that run shell or client commands")
    assert op.stage == "restoring"  # found on the way to psql, in the scratch copy's restore
    assert not marker.exists()
    assert_unchanged_and_clean(pg, pg_dbname, before, op)


def test_a_meta_command_in_the_schema_is_refused_by_the_preview(pg, pg_dbname, tmp_path):
    script = tmp_path / "early.sql"
    script.write_bytes(b"CREATE TABLE public.t (a int);\n\\! echo hi\n" + _dump_with_data_then(b""))
    with pytest.raises(Exception) as err:
        service.plan_restore(pg.url(pg_dbname), source_path=str(script))
    assert err.value.message.startswith("The SQL file contains the psql command \\! on line 2;")
    assert pg_dbname not in pg.databases()


def test_a_file_cut_past_the_preview_is_refused_before_psql_reads_its_end(pg, pg_dbname, tmp_path):
    before = make_live(pg, pg_dbname)
    inside = tmp_path / "inside.sql"
    data = _dump_with_data_then(b"")
    inside.write_bytes(data[: len(data) - 5000])  # inside the COPY data
    op = restore_previewed(pg, inside, pg_dbname)
    assert op.status == "failed" and op.error_code == "backup_rejected"
    assert op.error_message.startswith("The SQL file ends inside the data of the COPY statement on line 2")
    assert_unchanged_and_clean(pg, pg_dbname, before, op)

    unfinished = tmp_path / "unfinished.sql"
    # A pg_dump file without its closing line; psql would run the unfinished last statement at end of input.
    unfinished.write_bytes(b"--\n-- PostgreSQL database dump\n--\n" + _dump_with_data_then(b"CREATE TABLE public.half (a int)"))
    op = restore_previewed(pg, unfinished, pg_dbname)
    assert op.status == "failed" and op.error_code == "backup_rejected"
    assert "lacks pg_dump's closing line" in op.error_message
    assert_unchanged_and_clean(pg, pg_dbname, before, op)
