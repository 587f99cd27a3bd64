"""The PostgreSQL custom-format engine against a real server and real
pg_dump/pg_restore: what inspect reads from the archive, pg_restore's jobs and
sessions, damaged archives refused, and progress through a long table. What
both PostgreSQL engines must do alike (restores new and over an existing
database, failures and a cancel that leave the live database as it was, roles
the server lacks) is in test_engine_pg_restores.py."""

import logging
import subprocess
import time

import pytest

from dbkeeper.engines.pg_custom import DataTracker, PgCustomEngine
from dbkeeper.engines.pgarchive import read_archive
from dbkeeper.errors import BackupRejected
from dbkeeper.operations import runner, service
from dbkeeper.targets.postgres import is_sibling

from .dbsnapshot import pg_snapshot
from .builders import dump_custom as pg_dump
from .pgserver import PASSWORD, conninfo, pg_bin
from .pgsources import CUSTOM_SOURCE_TABLES as SOURCE_TABLES
from .pipeline import assert_unchanged_and_clean, make_live, restore

pytestmark = pytest.mark.django_db(transaction=True)

# -- inspect ------------------------------------------------------------------

def test_sniff_recognises_only_custom_dumps(custom_source):
    engine = PgCustomEngine()
    _, dumps = custom_source
    assert engine.sniff(dumps["gzip"].read_bytes()[:512])
    assert not engine.sniff(b"SQLite format 3\x00")
    assert not engine.sniff(b"--\n-- PostgreSQL database dump\n--\n")


def test_inspect_reports_tables_versions_and_data_sizes(pg, custom_source):
    name, dumps = custom_source
    info = PgCustomEngine().inspect(dumps["gzip"])
    assert info.format == "pg_custom" and info.label == "PostgreSQL custom-format dump"
    assert set(info.tables) == SOURCE_TABLES
    with pg.connect() as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
    assert info.server_version == server
    assert info.compressed is True
    assert info.size == dumps["gzip"].stat().st_size
    assert info.details["database"] == name
    assert info.details["compression"] == "gzip"
    assert info.details["archive_version"] == "1.14"  # pg_dump 12 to 15
    assert info.details["objects"] > 20
    assert info.details["dumped_at"].startswith(time.strftime("%Y-"))

    sizes = info.parsed.table_data_bytes()
    assert set(sizes) == SOURCE_TABLES
    assert all(sizes[t] > 1000 for t in SOURCE_TABLES - {"audit.events"})
    assert sizes["audit.events"] == 5  # an empty table's COPY stream is pg_dump's end marker alone
    large_object = len("large object ✓ ".encode() * 2000)
    assert info.details["data_size"] == sum(sizes.values()) + large_object
    assert info.details["stored_data_size"] < info.details["data_size"]  # compressed

    # Uncompressed, the sizes are the same COPY streams, counted byte for byte.
    plain = PgCustomEngine().inspect(dumps["none"])
    assert plain.compressed is False and plain.details["compression"] == "none"
    assert plain.parsed.table_data_bytes() == sizes
    # Written through a pipe (no offsets in the TOC), the walk finds the same.
    piped = PgCustomEngine().inspect(dumps["piped"])
    assert piped.parsed.table_data_bytes() == sizes and piped.tables == info.tables
    assert {e.data_state for e in piped.parsed.entries if e.has_data} == {1}  # offsets not set
    # The large object is data too, weighed apart from the tables.
    blobs = [b for b in info.parsed.blocks.values() if info.parsed.entry(b.dump_id).desc == "BLOBS"]
    assert len(blobs) == 1 and blobs[0].raw_bytes == large_object
    # ...and they are what COPY produces (pg_dump adds its end marker "\\.\n\n\n").
    copied = pg.tool("psql", "-X", "-c", "COPY public.notes TO STDOUT", dbname=name).stdout
    assert sizes["public.notes"] == len(copied) + 5


def test_inspect_agrees_with_pg_restore_list(pg, custom_source):
    _, dumps = custom_source
    archive = read_archive(dumps["gzip"])
    listed = pg.tool("pg_restore", "-l", str(dumps["gzip"])).stdout.decode()
    lines = {line for line in listed.splitlines() if line and not line.startswith(";")}
    ours = {
        f"{e.dump_id}; {e.table_oid} {e.oid} {e.desc} {e.namespace or '-'} {e.tag} {e.owner}"
        for e in archive.entries
    }
    # pg_restore -l leaves out the session settings (ENCODING, STDSTRINGS, ...); all it lists, we read alike.
    assert len(lines) > 20 and lines <= ours
    assert {e.desc for e in archive.entries if e.dump_id not in {int(l.split(";")[0]) for l in lines}} <= {
        "ENCODING", "STDSTRINGS", "SEARCHPATH", "DATABASE"}


@pytest.mark.parametrize("jobs", [1, 2])
def test_data_tracker_follows_pg_restore_verbose_output(pg, pg_dbname, custom_source, jobs):
    """Feed the real --verbose output of pg_restore to the tracker: every
    table and the large objects end up done, each one only after it started."""
    _, dumps = custom_source
    archive = read_archive(dumps["gzip"])
    pg.create_db(pg_dbname)
    out = pg.tool("pg_restore", "--verbose", f"--jobs={jobs}", "-d", pg_dbname, str(dumps["gzip"]), dbname=pg_dbname)
    tracker = DataTracker(archive, parallel=jobs > 1)
    assert tracker.total == archive.data_bytes and len(tracker.large_objects) == 1
    started, done_so_far = set(), 0
    for line in out.stderr.decode().splitlines():
        tracker.on_line(line)
        started |= set(tracker.active)
        if jobs == 1:
            # With several jobs, a worker's "processing data" line can reach
            # stderr after the leader's "finished item" for the same item.
            assert tracker.finished <= started
        assert done_so_far <= tracker.done_bytes() <= tracker.total
        done_so_far = tracker.done_bytes()
    assert tracker.finished == set(archive.blocks) and not tracker.active
    assert tracker.done_bytes() == tracker.total


def test_data_tracker_reads_messages_that_parallel_workers_interleaved(custom_source):
    """pg_restore writes a message's prefix and its text separately, so two
    processes can interleave them: a line with two prefixes, a line with none."""
    _, dumps = custom_source
    archive = read_archive(dumps["gzip"])
    tracker = DataTracker(archive, parallel=True)
    table = next(d for d, b in archive.blocks.items() if archive.entry(d).desc == "TABLE DATA")
    entry = archive.entry(table)
    tracker.on_line(f'pg_restore: pg_restore: processing data for table "{entry.qualified_name}"')
    assert table in tracker.active
    tracker.on_line(f"finished item {table} TABLE DATA {entry.tag}")
    assert table in tracker.finished and table not in tracker.active


# -- restores through the pipeline --------------------------------------------

@pytest.mark.parametrize("kind", ["gzip", "piped"])
def test_restore_with_two_jobs(pg, pg_dbname, custom_source, settings, caplog, kind):
    settings.DBKEEPER = {**settings.DBKEEPER, "PG_RESTORE_JOBS": 2}
    caplog.set_level(logging.INFO, logger="dbkeeper.procs")
    name, dumps = custom_source
    op = restore(pg, dumps[kind], pg_dbname)
    assert op.status == "succeeded", op.error_message
    assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, name))
    runs = [r.getMessage() for r in caplog.records if "pg_restore" in r.getMessage()]
    assert len(runs) == 1 and "--jobs=2" in runs[0]
    assert PASSWORD not in runs[0]


def test_pg_restore_sessions_commit_asynchronously(pg, pg_dbname, tmp_path):
    """A CHECK constraint that reads the session's synchronous_commit while
    the rows are copied in proves the setting reached pg_restore's sessions
    (the restoring role has it on by default; the test server has it off)."""
    src, role, password = "pgc_async_source", "pgc_sync_role", "sync-pw-1"
    pg.drop_db(src)
    pg.create_db(src)
    with pg.connect(src) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("CREATE TABLE probe (v int CHECK (current_setting('synchronous_commit') = 'off'))")
        conn.execute("INSERT INTO probe VALUES (1), (2)")
    dump = pg_dump(pg, src, tmp_path / "async.dump")
    pg.drop_db(src)
    with pg.connect() as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} LOGIN CREATEDB PASSWORD '{password}'")
        conn.execute(f"ALTER ROLE {role} SET synchronous_commit = on")
    try:
        op = service.create_restore(dump, f"postgresql://{role}:{password}@127.0.0.1:{pg.port}/{pg_dbname}")
        runner.run(op.id)
        op.refresh_from_db()
        assert op.status == "succeeded", op.error_message
        with pg.connect(pg_dbname) as conn:
            assert conn.execute("SELECT count(*) FROM probe").fetchone()[0] == 2
        # The same dump restored by plain pg_restore as that role fails the CHECK.
        with pg.connect() as conn:
            conn.execute(f"CREATE DATABASE pgc_async_raw OWNER {role}")
        with pytest.raises(subprocess.CalledProcessError) as err:
            subprocess.run([pg_bin("pg_restore"), "--exit-on-error", "--no-owner", "-d", "pgc_async_raw", str(dump)],
                           env={**pg.env(), "PGUSER": role, "PGPASSWORD": password}, check=True, capture_output=True)
        assert b"violates check constraint" in err.value.stderr
    finally:
        pg.drop_db("pgc_async_raw")
        for db in pg.databases():
            if db == pg_dbname or is_sibling(pg_dbname, db):
                pg.drop_db(db)
        with pg.connect() as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


# -- refused before anything runs -----------------------------------------------

def test_truncated_dump_is_refused_in_validation(custom_source, tmp_path):
    """Cut inside the data, it is refused with the live database unchanged
    (test_engine_pg_restores.py, for both formats); here, the other cuts."""
    _, dumps = custom_source
    data = dumps["gzip"].read_bytes()
    # Cut inside the table of contents: refused too, and said so.
    head = tmp_path / "head.dump"
    head.write_bytes(data[:300])
    with pytest.raises(BackupRejected) as err:
        PgCustomEngine().inspect(head)
    assert err.value.message == "The dump is truncated: it ends inside the table of contents."
    # Cut exactly between two data blocks: the missing tables are named.
    archive = read_archive(dumps["gzip"])
    second = sorted(b.offset for b in archive.blocks.values())[1]
    between = tmp_path / "between.dump"
    between.write_bytes(data[:second])
    with pytest.raises(BackupRejected) as err:
        PgCustomEngine().inspect(between)
    assert err.value.message.startswith("The dump is truncated: the data of table ")
    assert err.value.message.endswith(" is missing.")


def test_corrupt_data_blocks_are_refused_in_validation(pg, pg_dbname, custom_source, tmp_path):
    _, dumps = custom_source
    before = make_live(pg, pg_dbname)
    archive = read_archive(dumps["gzip"])
    block = max(archive.blocks.values(), key=lambda b: b.stored_bytes)
    table = archive.entry(block.dump_id).qualified_name
    data = bytearray(dumps["gzip"].read_bytes())
    middle = block.offset + block.stored_bytes // 2
    data[middle:middle + 64] = bytes(range(64))  # garbage inside the compressed stream
    bad = tmp_path / "bad.dump"
    bad.write_bytes(bytes(data))
    op = restore(pg, bad, pg_dbname)
    assert op.status == "failed" and op.error_code == "backup_rejected"
    assert op.error_message.startswith(f"The dump is corrupt: the data of table {table} cannot be decompressed")
    assert_unchanged_and_clean(pg, pg_dbname, before, op)

    # Uncompressed: a chunk length that points past its block breaks the structure.
    plain = read_archive(dumps["none"])
    block = min(plain.blocks.values(), key=lambda b: b.offset)
    data = bytearray(dumps["none"].read_bytes())
    first_chunk_length = block.offset + 1 + 5  # block type, dump id, then the first length
    data[first_chunk_length:first_chunk_length + 5] = b"\x00\xff\xff\xff\x00"
    bad.write_bytes(bytes(data))
    with pytest.raises(BackupRejected) as err:
        PgCustomEngine().inspect(bad)
    table = plain.entry(block.dump_id).qualified_name
    assert err.value.message == f"The dump is corrupt: a piece of the data of table {table} runs past the end of its block."


def test_gzipped_custom_dump_is_refused_with_advice(custom_source, tmp_path):
    import gzip

    _, dumps = custom_source
    wrapped = tmp_path / "source.dump.gz"
    wrapped.write_bytes(gzip.compress(dumps["gzip"].read_bytes()))
    with pytest.raises(BackupRejected) as err:
        PgCustomEngine().inspect(wrapped)
    assert "gunzip it" in err.value.message


# -- progress ---------------------------------------------------------------------

def test_progress_moves_during_a_long_table_and_never_goes_back(pg, pg_dbname, slow_dumps):
    seen = []
    op = restore(pg, slow_dumps["custom"], pg_dbname, listener=lambda o: seen.append((time.monotonic(), o.stage, o.percent, o.done, o.total)))
    assert op.status == "succeeded", op.error_message
    percents = [s[2] for s in seen]
    assert percents == sorted(percents)
    copying = [(t, p) for t, stage, p, done, total in seen if stage == "restoring" and 0 < done < total]
    assert copying, seen
    assert copying[-1][0] - copying[0][0] > 4, "the slow table should take several seconds"
    moves = [t for (t, p), (_, before) in zip(copying[1:], copying) if p > before]
    gaps = [b - a for a, b in zip([copying[0][0]] + moves, moves)]
    assert len(moves) >= 4 and max(gaps) <= 2.0, gaps
