"""The SQLite engine: recognising and describing files without writing beside
them, restores through the whole pipeline (raw and gzipped, new and over an
existing file, a live file in WAL mode with an open connection), and damaged
files refused with the live file unchanged."""

import gzip
import sqlite3
import tempfile

import pytest

from dbkeeper.engines import detect
from dbkeeper.engines.sqlite import SqliteEngine
from dbkeeper.errors import BackupRejected
from dbkeeper.operations import runner, service
from dbkeeper.operations.models import PreRestoreCopy

from .dbsnapshot import pg_snapshot, sqlite_snapshot
from .pgserver import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def make_backup(path, rows=300, value="v", wal=False):
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, n REAL, blob BLOB)")
    conn.executemany(
        "INSERT INTO notes (body, n, blob) VALUES (?, ?, ?)",
        [(f"{value}-{i} Zoë ✓ مرحبا" if i % 5 else None, i / 3, bytes([i % 256]) * 40) for i in range(rows)],
    )
    conn.execute("CREATE TABLE tags (name TEXT UNIQUE)")
    conn.executemany("INSERT INTO tags VALUES (?)", [(f"{value}{i}",) for i in range(50)])
    conn.execute("CREATE INDEX notes_body ON notes (body)")
    conn.commit()
    conn.close()
    return path


def gzipped(path):
    dest = path.with_name(path.name + ".gz")
    dest.write_bytes(gzip.compress(path.read_bytes()))
    return dest


def restore(backup, live_path):
    op = service.create_restore(backup, f"sqlite:///{live_path}")
    runner.run(op.id)
    op.refresh_from_db()
    return op


def beside(path):
    """Files in the target's folder that belong to it (scratch, journals, copies)."""
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name))


@pytest.fixture
def backup(tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    return make_backup(folder / "backup.sqlite3", value="backup")


def make_live(path):
    make_backup(path, rows=120, value="live")
    return sqlite_snapshot(path)


# -- recognising and describing ------------------------------------------------------

def test_sniff_and_detect(backup, tmp_path):
    engine = SqliteEngine()
    assert engine.sniff(backup.read_bytes()[:100])
    assert not engine.sniff(b"-- PostgreSQL database dump\n")
    assert not engine.sniff(b"SQLite format 2\x00")
    assert detect(backup).format == "sqlite"
    assert detect(gzipped(backup)).format == "sqlite"


def test_inspect_reads_the_header_and_tables_without_writing(backup, tmp_path, monkeypatch):
    scratch_tmp = tmp_path / "tmp"
    scratch_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_tmp))
    wal = make_backup(tmp_path / "backups" / "wal.sqlite3", wal=True)
    assert wal.read_bytes()[18:20] == b"\x02\x02"
    before = beside(wal)

    info = SqliteEngine().inspect(wal)
    assert info.format == "sqlite" and info.label == "SQLite database"
    assert info.tables == ["notes", "tags"]
    assert info.server_version == f"SQLite {sqlite3.sqlite_version}"
    assert info.compressed is False and info.size == wal.stat().st_size
    details = info.details
    assert details["journal_mode"] == "wal" and details["text_encoding"] == "UTF-8"
    assert details["page_size"] * details["pages"] == info.size == details["uncompressed_size"]
    assert beside(wal) == before  # opened read-only and immutable: no -wal or -shm appeared

    packed = gzipped(backup)
    info = SqliteEngine().inspect(packed)
    assert info.compressed is True and info.size == packed.stat().st_size
    assert info.details["uncompressed_size"] == backup.stat().st_size
    assert info.details["journal_mode"] == "rollback"
    assert list(scratch_tmp.iterdir()) == []  # the decompressed copy is gone


# -- restores through the pipeline -----------------------------------------------------

def test_restore_into_a_new_file(backup, tmp_path):
    live = tmp_path / "app.db"
    op = restore(backup, live)
    assert op.status == "succeeded", op.error_message
    assert sqlite_snapshot(live) == sqlite_snapshot(backup)
    assert op.result["prerestore"] is None
    assert beside(live) == ["app.db"]


def test_gzipped_restore_over_an_existing_file_keeps_a_prerestore_copy(backup, tmp_path):
    live = tmp_path / "app.db"
    before = make_live(live)
    op = restore(gzipped(backup), live)
    assert op.status == "succeeded", op.error_message
    assert sqlite_snapshot(live) == sqlite_snapshot(backup)
    copy = PreRestoreCopy.objects.get()
    assert copy.name == op.prerestore_name and sqlite_snapshot(copy.name) == before
    assert beside(live) == sorted(["app.db", copy.name.rsplit("/", 1)[-1]])


def test_live_file_in_wal_mode_with_an_open_connection(backup, tmp_path):
    live = tmp_path / "app.db"
    app = sqlite3.connect(live)  # the application, still connected through the restore
    app.execute("PRAGMA journal_mode=WAL")
    app.execute("PRAGMA wal_autocheckpoint=0")
    app.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT)")
    app.commit()
    app.executemany("INSERT INTO accounts (name) VALUES (?)", [(f"user{i}",) for i in range(200)])
    app.commit()
    wal = live.with_name("app.db-wal")
    assert wal.stat().st_size > 0  # the rows are only in the write-ahead log so far
    before = sqlite_snapshot(live)
    assert before["accounts"][0] == 200
    try:
        op = restore(backup, live)
    finally:
        app.close()
    assert op.status == "succeeded", op.error_message
    assert sqlite_snapshot(live) == sqlite_snapshot(backup)
    assert sqlite_snapshot(op.prerestore_name) == before


def test_wal_backup_is_restored_self_contained_and_stays_in_wal_mode(tmp_path):
    (tmp_path / "backups").mkdir()
    wal_backup = make_backup(tmp_path / "backups" / "wal.sqlite3", wal=True)
    live = tmp_path / "app.db"
    op = restore(wal_backup, live)
    assert op.status == "succeeded", op.error_message
    assert beside(live) == ["app.db"]  # no -wal or -shm left beside it
    assert live.read_bytes()[18:20] == b"\x02\x02"
    assert sqlite_snapshot(live) == sqlite_snapshot(wal_backup)


# -- refused ---------------------------------------------------------------------------------

def assert_refused_and_unchanged(op, live, before, start):
    assert op.status == "failed" and op.error_code == "backup_rejected"
    assert op.error_message.startswith(start), op.error_message
    assert op.stage == "validating"
    assert sqlite_snapshot(live) == before
    assert beside(live) == ["app.db"]
    assert not PreRestoreCopy.objects.exists()


def test_corrupt_file_is_refused_and_the_live_file_unchanged(backup, tmp_path):
    live = tmp_path / "app.db"
    before = make_live(live)
    data = bytearray(backup.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) >= 4 * page
    data[page + 8:3 * page] = bytes((i * 37 + 11) % 256 for i in range(2 * page - 8))  # garbage in pages 2-3
    corrupt = tmp_path / "backups" / "corrupt.sqlite3"
    corrupt.write_bytes(bytes(data))
    op = restore(corrupt, live)
    assert_refused_and_unchanged(op, live, before, "The SQLite file is damaged: ")


def test_cut_files_are_refused(backup, tmp_path):
    live = tmp_path / "app.db"
    before = make_live(live)
    data = backup.read_bytes()
    cut = tmp_path / "backups" / "cut.sqlite3"
    cut.write_bytes(data[: len(data) // 2])
    op = restore(cut, live)
    assert_refused_and_unchanged(op, live, before, "The SQLite file is cut short: its header says ")

    packed = gzipped(backup).read_bytes()
    cut_gz = tmp_path / "backups" / "cut.sqlite3.gz"
    cut_gz.write_bytes(packed[: len(packed) * 2 // 3])
    with pytest.raises(BackupRejected) as err:
        SqliteEngine().inspect(cut_gz)
    assert err.value.message.startswith("The gzipped SQLite file is damaged or cut short")


def test_a_sqlite_file_cannot_go_into_postgresql(pg, pg_dbname, backup):
    pg.create_db(pg_dbname)
    with pg.connect(pg_dbname) as conn:
        conn.execute("CREATE TABLE keep (a int)")
        conn.execute("INSERT INTO keep VALUES (1)")
    info = {"host": "127.0.0.1", "port": pg.port, "user": pg.user, "password": PASSWORD, "dbname": pg_dbname}
    before = pg_snapshot(info)
    op = service.create_restore(backup, pg.url(pg_dbname))
    runner.run(op.id)
    op.refresh_from_db()
    assert op.status == "failed" and op.error_code == "wrong_target_kind"
    assert op.error_message == "A SQLite database cannot be restored into a postgresql database."
    assert pg_snapshot(info) == before
    assert [d for d in pg.databases() if d.startswith(pg_dbname)] == [pg_dbname]


def test_a_plain_sql_dump_cannot_go_into_sqlite(tmp_path):
    script = tmp_path / "dump.sql"
    script.write_text("CREATE TABLE t (a int);\n")
    live = tmp_path / "app.db"
    before = make_live(live)
    op = restore(script, live)
    assert op.status == "failed" and op.error_code == "wrong_target_kind"
    assert op.error_message == "A PostgreSQL plain SQL dump cannot be restored into a sqlite database."
    assert sqlite_snapshot(live) == before
