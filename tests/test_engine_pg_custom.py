"""The PostgreSQL custom-format engine against a real server and real
pg_dump/pg_restore: what inspect reads from the archive, restores through the
whole pipeline, missing roles, and the failures that must leave the live
database as it was."""

import logging
import subprocess
import threading
import time

import pytest
from django.db import connections

from dbkeeper.engines.pg_custom import DataTracker, PgCustomEngine
from dbkeeper.engines.pgarchive import read_archive
from dbkeeper.errors import BackupRejected
from dbkeeper.operations import runner, service
from dbkeeper.operations.models import Operation, PreRestoreCopy
from dbkeeper.targets.postgres import is_sibling

from .dbsnapshot import pg_snapshot
from .pipeline import assert_unchanged_and_clean, conninfo, events, restore, scratch_left
from .pipeline import make_live as _make_live
from .test_translations import assert_translated, in_arabic
from .pgserver import PASSWORD, pg_bin

pytestmark = pytest.mark.django_db(transaction=True)

SOURCE_TABLES = {"public.customers", "public.notes", "shop.orders", "shop.lines", "audit.events"}


def build_source(pg, name):
    """Several schemas, an index, sequences, a view, some thousand rows, bytea and unicode text."""
    pg.drop_db(name)
    pg.create_db(name)
    with pg.connect(name) as conn:
        conn.execute("CREATE SCHEMA shop; CREATE SCHEMA audit")
        conn.execute("CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, photo bytea)")
        conn.execute(
            "INSERT INTO customers (name, photo) SELECT 'Zoë Ångström ✓ مرحبا ' || g, "
            "decode(md5(g::text) || md5((g * 3)::text), 'hex') FROM generate_series(1, 3000) g"
        )
        conn.execute("CREATE TABLE notes (id bigint PRIMARY KEY, body text)")
        conn.execute("INSERT INTO notes SELECT g, repeat('note ' || g || E' tab\\there\\nnewline ', 3) FROM generate_series(1, 2000) g")
        conn.execute("CREATE SEQUENCE shop.order_no START 1000")
        conn.execute(
            "CREATE TABLE shop.orders (id int PRIMARY KEY DEFAULT nextval('shop.order_no'), "
            "customer_id int REFERENCES customers(id), total numeric(12,2), placed timestamptz)"
        )
        conn.execute(
            "INSERT INTO shop.orders (customer_id, total, placed) SELECT 1 + g % 3000, g / 7.0, "
            "'2024-01-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, 4000) g"
        )
        conn.execute("CREATE TABLE shop.lines (order_id int REFERENCES shop.orders(id), sku text, qty int)")
        conn.execute("INSERT INTO shop.lines SELECT 1000 + g % 4000, 'SKU-' || g, g % 9 FROM generate_series(1, 5000) g")
        conn.execute("CREATE INDEX lines_sku ON shop.lines (sku)")
        conn.execute("CREATE TABLE audit.events (at timestamptz, what text)")  # empty table
        conn.execute("CREATE VIEW shop.order_totals AS SELECT customer_id, sum(total) FROM shop.orders GROUP BY 1")
        conn.execute("SELECT lo_from_bytea(0, convert_to(repeat('large object ✓ ', 2000), 'UTF8'))")


def build_slow_source(pg, name, rows=3000):
    """One table whose restore takes several seconds with little data: a CHECK
    constraint calls a function that, in the dump, sleeps for every row. (It
    is made fast while the source is filled, then replaced.)"""
    pg.drop_db(name)
    pg.create_db(name)
    with pg.connect(name) as conn:
        conn.execute("CREATE FUNCTION public.row_ok(v text) RETURNS boolean LANGUAGE sql AS 'SELECT true'")
        conn.execute("CREATE TABLE public.slow (id int PRIMARY KEY, v text CHECK (public.row_ok(v)))")
        conn.execute("INSERT INTO slow SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, %s) g", (rows,))
        conn.execute("CREATE TABLE public.small (id int)")
        conn.execute("INSERT INTO small SELECT generate_series(1, 10)")
        conn.execute(
            "CREATE OR REPLACE FUNCTION public.row_ok(v text) RETURNS boolean LANGUAGE plpgsql AS "
            "'BEGIN PERFORM pg_sleep(0.0015); RETURN true; END'"
        )


def pg_dump(pg, dbname, path, *extra):
    pg.tool("pg_dump", "-Fc", "-f", str(path), *extra, dbname=dbname)
    return path


@pytest.fixture(scope="module")
def source(pg, tmp_path_factory):
    """The source database and its dumps, built once for this module."""
    name = "pgc_source"
    build_source(pg, name)
    folder = tmp_path_factory.mktemp("pgc")
    dumps = {
        "gzip": pg_dump(pg, name, folder / "source.dump"),
        "none": pg_dump(pg, name, folder / "source-z0.dump", "-Z0"),
        # Written through a pipe: the TOC then has no data offsets.
        "piped": folder / "source-piped.dump",
    }
    dumps["piped"].write_bytes(pg.tool("pg_dump", "-Fc", dbname=name).stdout)
    yield name, dumps
    pg.drop_db(name)


@pytest.fixture(scope="module")
def slow_dump(pg, tmp_path_factory):
    name = "pgc_slow_source"
    build_slow_source(pg, name)
    path = pg_dump(pg, name, tmp_path_factory.mktemp("pgc_slow") / "slow.dump")
    pg.drop_db(name)
    return path


def make_live(pg, dbname):
    return _make_live(pg, dbname, rows=500)


# -- inspect ------------------------------------------------------------------

def test_sniff_recognises_only_custom_dumps(source):
    engine = PgCustomEngine()
    _, dumps = source
    assert engine.sniff(dumps["gzip"].read_bytes()[:512])
    assert not engine.sniff(b"SQLite format 3\x00")
    assert not engine.sniff(b"--\n-- PostgreSQL database dump\n--\n")


def test_inspect_reports_tables_versions_and_data_sizes(pg, source):
    name, dumps = source
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

    sizes = info.archive.table_data_bytes()
    assert set(sizes) == SOURCE_TABLES
    assert all(sizes[t] > 1000 for t in SOURCE_TABLES - {"audit.events"})
    assert sizes["audit.events"] == 5  # an empty table's COPY stream is pg_dump's end marker alone
    large_object = len("large object ✓ ".encode() * 2000)
    assert info.details["data_size"] == sum(sizes.values()) + large_object
    assert info.details["stored_data_size"] < info.details["data_size"]  # compressed

    # Uncompressed, the sizes are the same COPY streams, counted byte for byte.
    plain = PgCustomEngine().inspect(dumps["none"])
    assert plain.compressed is False and plain.details["compression"] == "none"
    assert plain.archive.table_data_bytes() == sizes
    # Written through a pipe (no offsets in the TOC), the walk finds the same.
    piped = PgCustomEngine().inspect(dumps["piped"])
    assert piped.archive.table_data_bytes() == sizes and piped.tables == info.tables
    assert {e.data_state for e in piped.archive.entries if e.has_data} == {1}  # offsets not set
    # The large object is data too, weighed apart from the tables.
    blobs = [b for b in info.archive.blocks.values() if info.archive.entry(b.dump_id).desc == "BLOBS"]
    assert len(blobs) == 1 and blobs[0].raw_bytes == large_object
    # ...and they are what COPY produces (pg_dump adds its end marker "\\.\n\n\n").
    copied = pg.tool("psql", "-X", "-c", "COPY public.notes TO STDOUT", dbname=name).stdout
    assert sizes["public.notes"] == len(copied) + 5


def test_inspect_agrees_with_pg_restore_list(pg, source):
    _, dumps = source
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
def test_data_tracker_follows_pg_restore_verbose_output(pg, pg_dbname, source, jobs):
    """Feed the real --verbose output of pg_restore to the tracker: every
    table and the large objects end up done, each one only after it started."""
    _, dumps = source
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


# -- restores through the pipeline --------------------------------------------

def test_restore_into_a_new_database(pg, pg_dbname, source):
    name, dumps = source
    seen = []
    op = restore(pg, dumps["gzip"], pg_dbname, listener=lambda o: seen.append((o.stage, o.done, o.total, o.unit)))
    assert op.status == "succeeded", op.error_message
    assert op.percent == 100
    # While restoring, progress counted the table data in bytes, up to all of it.
    data_size = PgCustomEngine().inspect(dumps["gzip"]).details["data_size"]
    restoring = [(done, total, unit) for stage, done, total, unit in seen if stage == "restoring" and unit]
    assert restoring[-1] == (data_size, data_size, "bytes")
    assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, name))
    assert op.result["prerestore"] is None and not PreRestoreCopy.objects.exists()
    assert scratch_left(pg, pg_dbname) == []
    with pg.connect(pg_dbname) as conn:
        assert conn.execute("SELECT last_value FROM shop.order_no").fetchone()[0] == 4999
        assert conn.execute("SELECT count(*) FROM shop.order_totals").fetchone()[0] == 3000
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'lines_sku'").fetchone()[0] == 1
        large = conn.execute("SELECT convert_from(lo_get(oid), 'UTF8') FROM pg_largeobject_metadata").fetchall()
        assert large == [("large object ✓ " * 2000,)]


def test_restore_over_an_existing_database_keeps_a_prerestore_copy(pg, pg_dbname, source):
    name, dumps = source
    before = make_live(pg, pg_dbname)
    op = restore(pg, dumps["none"], pg_dbname)
    assert op.status == "succeeded", op.error_message
    assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, name))
    copy = PreRestoreCopy.objects.get()
    assert copy.name == op.prerestore_name and is_sibling(pg_dbname, copy.name) and "__prerestore_" in copy.name
    assert pg_snapshot(conninfo(pg, copy.name)) == before
    assert scratch_left(pg, pg_dbname) == []


@pytest.mark.parametrize("kind", ["gzip", "piped"])
def test_restore_with_two_jobs(pg, pg_dbname, source, settings, caplog, kind):
    settings.DBKEEPER = {**settings.DBKEEPER, "PG_RESTORE_JOBS": 2}
    caplog.set_level(logging.INFO, logger="dbkeeper.procs")
    name, dumps = source
    op = restore(pg, dumps[kind], pg_dbname)
    assert op.status == "succeeded", op.error_message
    assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, name))
    runs = [r.getMessage() for r in caplog.records if "pg_restore" in r.getMessage()]
    assert len(runs) == 1 and "--jobs=2" in runs[0]
    assert PASSWORD not in runs[0]


def test_objects_of_roles_the_server_lacks_go_to_the_database_owner_role(pg, pg_dbname, tmp_path):
    """Through a superuser target, objects never go to the superuser: with no
    live database, they go to a NOLOGIN role dbkeeper creates for it."""
    owner, reader, src = "pgc_gone_owner", "pgc_gone_reader", "pgc_roles_source"
    with pg.connect() as conn:
        for role in (owner, reader):
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')
            conn.execute(f'CREATE ROLE "{role}"')
        conn.execute(f'CREATE DATABASE "{src}" OWNER "{owner}"')
    with pg.connect(src) as conn:
        conn.execute(f'SET ROLE "{owner}"')
        conn.execute("CREATE SCHEMA ledger")
        conn.execute("CREATE TABLE ledger.entries (id int PRIMARY KEY, amount numeric)")
        conn.execute("INSERT INTO ledger.entries SELECT g, g * 1.5 FROM generate_series(1, 100) g")
        conn.execute(f'GRANT SELECT ON ledger.entries TO "{reader}"')
    dump = pg_dump(pg, src, tmp_path / "roles.dump")
    expected = pg_snapshot(conninfo(pg, src))
    pg.drop_db(src)
    with pg.connect() as conn:
        conn.execute(f'DROP ROLE "{owner}"')
        conn.execute(f'DROP ROLE "{reader}"')

    info = PgCustomEngine().inspect(dump)
    assert owner in info.details["roles"] and reader in info.details["roles"]
    op = restore(pg, dump, pg_dbname)
    assert op.status == "succeeded", op.error_message
    assert pg_snapshot(conninfo(pg, pg_dbname)) == expected
    note = next(m for m in events(op) if "does not have" in m)
    assert reader in note and "grants" in note
    # Stored in English, shown in the reader's language with the role names kept.
    assert_translated(note, in_arabic(note), details=[reader, "(GRANT/REVOKE)"])
    handed = next(m for m in events(op) if "now belong to" in m)
    assert owner in handed and f"now belong to {pg_dbname}_owner" in handed
    with pg.connect(pg_dbname) as conn:
        table_owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'entries'").fetchone()[0]
        db_owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()").fetchone()[0]
    assert table_owner == db_owner == f"{pg_dbname}_owner"


def test_a_user_who_is_not_superuser_restores_objects_owned_by_others(pg, pg_dbname, source):
    """The usual Django set-up: the application's role may create databases but
    may not act as postgres, who owns everything in the dump."""
    name, dumps = source
    app, password = "pgc_app", "app-pw-1"
    with pg.connect() as conn:
        conn.execute(f"DROP ROLE IF EXISTS {app}")
        conn.execute(f"CREATE ROLE {app} LOGIN CREATEDB PASSWORD '{password}'")
    try:
        url = f"postgresql://{app}:{password}@127.0.0.1:{pg.port}/{pg_dbname}"
        op = service.create_restore(dumps["gzip"], url)
        runner.run(op.id)
        op.refresh_from_db()
        assert op.status == "succeeded", op.error_message
        assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, name))
        note = next(m for m in events(op) if "may not act as" in m)
        assert f"roles {app} may not act as (postgres)" in note and f"now belong to {app}" in note
        with pg.connect(pg_dbname) as conn:
            owners = {r[0] for r in conn.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname <> 'pg_catalog' AND schemaname <> 'information_schema'")}
        assert owners == {app}
    finally:
        for db in pg.databases():
            if db == pg_dbname or is_sibling(pg_dbname, db):
                pg.drop_db(db)
        with pg.connect() as conn:
            conn.execute(f"DROP ROLE IF EXISTS {app}")


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

def test_truncated_dump_is_refused_in_validation(pg, pg_dbname, source, tmp_path):
    _, dumps = source
    before = make_live(pg, pg_dbname)
    data = dumps["gzip"].read_bytes()
    half = tmp_path / "half.dump"
    half.write_bytes(data[: len(data) // 2])
    op = restore(pg, half, pg_dbname)
    assert op.status == "failed" and op.error_code == "backup_rejected"
    assert op.error_message.startswith("The dump is truncated: it ends inside the data of table ")
    assert op.stage == "validating" and not op.scratch_name
    assert_unchanged_and_clean(pg, pg_dbname, before, op)

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


def test_corrupt_data_blocks_are_refused_in_validation(pg, pg_dbname, source, tmp_path):
    _, dumps = source
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


def test_gzipped_custom_dump_is_refused_with_advice(source, tmp_path):
    import gzip

    _, dumps = source
    wrapped = tmp_path / "source.dump.gz"
    wrapped.write_bytes(gzip.compress(dumps["gzip"].read_bytes()))
    with pytest.raises(BackupRejected) as err:
        PgCustomEngine().inspect(wrapped)
    assert "gunzip it" in err.value.message


# -- failures while restoring -----------------------------------------------------

def test_restore_failing_halfway_leaves_the_live_database_alone(pg, pg_dbname, tmp_path):
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
    dump = pg_dump(pg, src, tmp_path / "fails.dump")
    pg.drop_db(src)

    before = make_live(pg, pg_dbname)
    op = restore(pg, dump, pg_dbname)
    assert op.status == "failed" and op.error_code == "restore_failed"
    assert op.error_message.startswith("pg_restore failed on INDEX t_bucket: ")
    assert 'could not create unique index "t_bucket"' in op.error_message
    assert "is duplicated" in op.error_message
    assert op.percent > 3  # the data had gone in before it failed
    assert_unchanged_and_clean(pg, pg_dbname, before, op)


def test_cancel_while_a_table_restores(pg, pg_dbname, slow_dump):
    before = make_live(pg, pg_dbname)
    op = service.create_restore(slow_dump, pg.url(pg_dbname))

    def work():
        try:
            runner.run(op.id)
        finally:
            connections.close_all()

    worker = threading.Thread(target=work)
    worker.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = Operation.objects.values("stage", "done").get(pk=op.pk)
        if row["stage"] == "restoring" and row["done"] > 0:
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
        tools = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbkeeper pg_restore'").fetchone()
    assert tools[0] == 0


def test_progress_moves_during_a_long_table_and_never_goes_back(pg, pg_dbname, slow_dump):
    seen = []
    op = restore(pg, slow_dump, pg_dbname, listener=lambda o: seen.append((time.monotonic(), o.stage, o.percent, o.done, o.total)))
    assert op.status == "succeeded", op.error_message
    percents = [s[2] for s in seen]
    assert percents == sorted(percents)
    copying = [(t, p) for t, stage, p, done, total in seen if stage == "restoring" and 0 < done < total]
    assert copying, seen
    assert copying[-1][0] - copying[0][0] > 4, "the slow table should take several seconds"
    moves = [t for (t, p), (_, before) in zip(copying[1:], copying) if p > before]
    gaps = [b - a for a, b in zip([copying[0][0]] + moves, moves)]
    assert len(moves) >= 4 and max(gaps) <= 2.0, gaps
