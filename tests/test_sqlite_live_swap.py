"""The SQLite swap under a running application: connections kept open to the
live file see the restored database at their next statement, their writes
are never lost between the pre-restore copy and the restore, the live file
keeps its journal mode, and a swap that fails part-way, or cannot get the
file's lock, leaves the live file as it was."""

import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbkeeper.dburl import DbUrl
from dbkeeper.errors import TargetError
from dbkeeper.targets.sqlite import SqliteTarget

from .dbsnapshot import sqlite_snapshot

ROOT = Path(__file__).resolve().parent.parent
MODES = ["delete", "wal"]


def make_db(path, rows, value, mode="delete", page_size=None, width=20):
    conn = sqlite3.connect(path)
    if page_size:
        conn.execute(f"PRAGMA page_size = {page_size}")
    conn.execute(f"PRAGMA journal_mode = {mode}")
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO items (v) VALUES (?)", [(f"{value}-{i}".ljust(width, "."),) for i in range(rows)])
    conn.commit()
    conn.close()
    return path


def target_and_scratch(live, op="op_1_abc"):
    target = SqliteTarget(DbUrl.parse(f"sqlite:///{live}"))
    scratch = target.scratch(op)
    scratch.create()
    return target, scratch


def header_mode(path):
    """The journal mode the file's header gives (bytes 18 and 19): 1 rollback, 2 WAL."""
    return {b"\x01\x01": "rollback", b"\x02\x02": "wal"}[path.read_bytes()[18:20]]


def beside(path):
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name))


def count(conn, where="1"):
    return conn.execute(f"SELECT count(*) FROM items WHERE {where}").fetchone()[0]


@pytest.mark.parametrize("mode", MODES)
def test_open_connections_see_the_restored_database_and_write_into_it(tmp_path, mode):
    live = make_db(tmp_path / "app.db", 50, "old", mode)
    app = sqlite3.connect(live, timeout=10)  # the application's kept connection
    app.execute("PRAGMA wal_autocheckpoint = 0") if mode == "wal" else None
    app.execute("INSERT INTO items (v) VALUES ('written-by-the-app')")
    app.commit()
    assert count(app) == 51
    before = sqlite_snapshot(live)
    target, scratch = target_and_scratch(live)
    make_db(scratch.path, 5, "new", "wal")  # a backup in WAL mode

    pre = target.swap_in(scratch, target.prerestore_name("op_1_abc"))

    # The same connection, next statement: the restored database.
    assert count(app) == 5 and count(app, "v LIKE 'new-%'") == 5
    app.execute("INSERT INTO items (v) VALUES ('after')")
    app.commit()
    app.close()
    with sqlite3.connect(live) as conn:
        assert count(conn) == 6  # its write went into the live file, not into the copy
    conn.close()
    assert sqlite_snapshot(pre) == before  # rows only in the write-ahead log included
    assert header_mode(live) == ("wal" if mode == "wal" else "rollback")  # the live file kept its mode
    assert not scratch.path.exists()
    assert set(beside(live)) <= {"app.db", Path(pre).name, "app.db-wal", "app.db-shm"}


def test_a_live_file_in_wal_mode_takes_a_copy_with_another_page_size(tmp_path):
    live = make_db(tmp_path / "app.db", 300, "old", "wal", page_size=4096)
    app = sqlite3.connect(live)
    assert count(app) == 300
    target, scratch = target_and_scratch(live)
    make_db(scratch.path, 700, "new", "delete", page_size=8192)
    expected = sqlite_snapshot(scratch.path)

    pre = target.swap_in(scratch, target.prerestore_name("op_1_abc"))
    assert count(app) == 700
    assert app.execute("PRAGMA page_size").fetchone()[0] == 4096
    app.close()
    assert sqlite_snapshot(live) == expected and header_mode(live) == "wal"
    assert sqlite_snapshot(pre)["items"][0] == 300
    with sqlite3.connect(live) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


WRITER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
done = open(sys.argv[2], "a", buffering=1)
n = 0
while True:
    n += 1
    conn.execute("INSERT INTO items (v) VALUES (?)", (f"w{n}",))
    done.write(f"{n}\\n")  # only once the insert has committed
    time.sleep(0.002)
"""


@pytest.mark.parametrize("mode", MODES)
def test_no_write_falls_between_the_prerestore_copy_and_the_restore(tmp_path, mode):
    """A process writing all the time: each committed row is either in the
    pre-restore copy or in the restored database, never lost between them."""
    live = make_db(tmp_path / "app.db", 2000, "old", mode, width=200)
    acked = tmp_path / "acked"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(live), str(acked)])
    try:
        deadline = time.monotonic() + 30
        while not (acked.exists() and len(acked.read_text().split()) > 20) and time.monotonic() < deadline:
            time.sleep(0.05)
        target, scratch = target_and_scratch(live)
        make_db(scratch.path, 3000, "new", "delete", width=200)  # several backup steps
        pre = target.swap_in(scratch, target.prerestore_name("op_1_abc"))
        time.sleep(0.3)
    finally:
        writer.kill()
        writer.wait()
    written = {f"w{n}" for n in acked.read_text().split()}
    with sqlite3.connect(pre) as conn:
        in_copy = {r[0] for r in conn.execute("SELECT v FROM items WHERE v LIKE 'w%'")}
    with sqlite3.connect(live) as conn:
        in_live = {r[0] for r in conn.execute("SELECT v FROM items WHERE v LIKE 'w%'")}
        assert count(conn, "v LIKE 'new-%'") == 3000 and count(conn, "v LIKE 'old-%'") == 0
    assert in_copy and in_live, "the writer wrote on both sides of the restore"
    assert written <= in_copy | in_live and not in_copy & in_live
    # Every row in the copy came before every row in the restored database.
    assert max(int(v[1:]) for v in in_copy) < min(int(v[1:]) for v in in_live)


FAILING_SWAP = """
import resource, signal, sys
from django.conf import settings
settings.configure(USE_TZ=True)
from dbkeeper.dburl import DbUrl
from dbkeeper.errors import TargetError
from dbkeeper.targets.sqlite import SqliteTarget
# A real write error part-way: files may not grow beyond this size.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
target = SqliteTarget(DbUrl.parse("sqlite:///" + sys.argv[1]))
try:
    target.swap_in(target.scratch("op_1_abc"), target.prerestore_name("op_1_abc"))
except TargetError as exc:
    print(exc.message)
    sys.exit(3)
"""


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("mode", MODES)
def test_a_write_error_part_way_leaves_the_live_file_as_it_was(tmp_path, mode):
    live = make_db(tmp_path / "app.db", 100, "old", mode)
    # Read the file's bytes before any connection is open: closing a file drops the process's locks on it.
    main_file, before = digest(live), sqlite_snapshot(live)
    app = sqlite3.connect(live, timeout=10)
    assert count(app) == 100
    target, scratch = target_and_scratch(live)
    make_db(scratch.path, 20000, "new", "delete", width=150)  # about 3.5 MB
    assert scratch.path.stat().st_size > 3 * 1024 * 1024

    result = subprocess.run([sys.executable, "-c", FAILING_SWAP, str(live), str(1024 * 1024)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    assert result.stdout.startswith(f"The restored copy could not be written into the live SQLite file {live}: ")

    assert count(app) == 100 and sqlite_snapshot(live) == before
    assert beside(live) == sorted(["app.db", scratch.path.name] + (["app.db-shm", "app.db-wal"] if mode == "wal" else []))
    app.close()
    if mode == "delete":
        assert digest(live) == main_file  # the pages written before the error were put back
    with sqlite3.connect(live, timeout=1) as conn:  # and no lock was left behind
        conn.execute("INSERT INTO items (v) VALUES ('still writable')")
    conn.close()


@pytest.mark.parametrize("mode", MODES)
def test_a_live_file_kept_locked_is_not_changed(tmp_path, mode):
    live = make_db(tmp_path / "app.db", 10, "old", mode)
    holder = sqlite3.connect(live, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another connection's write transaction that does not end
    holder.execute("INSERT INTO items (v) VALUES ('uncommitted')")
    before = sqlite_snapshot(live)
    target, scratch = target_and_scratch(live)
    make_db(scratch.path, 5, "new")
    target.lock_wait_seconds = 1
    with pytest.raises(TargetError) as err:
        target.swap_in(scratch, target.prerestore_name("op_1_abc"))
    assert err.value.message == (f"The live SQLite file {live} stayed locked by other connections for 1 second; "
                                 "the restored copy was not put in place.")
    assert sqlite_snapshot(live) == before
    assert not [p for p in beside(live) if ".prerestore-" in p]
    holder.execute("COMMIT")
    holder.close()
    # Once the lock is released, the same swap goes through, with the committed row in the copy.
    pre = target.swap_in(scratch, target.prerestore_name("op_1_abc"))
    assert sqlite_snapshot(pre)["items"][0] == 11 and sqlite_snapshot(live)["items"][0] == 5


def test_a_live_file_that_is_not_a_database_is_set_aside(tmp_path):
    live = tmp_path / "app.db"
    live.write_bytes(b"not a database at all " * 100)
    target, scratch = target_and_scratch(live)
    make_db(scratch.path, 5, "new")
    pre = target.swap_in(scratch, target.prerestore_name("op_1_abc"))
    assert Path(pre).read_bytes() == b"not a database at all " * 100
    assert sqlite_snapshot(live)["items"][0] == 5


def test_a_one_page_database_is_restored_too(tmp_path):
    live = make_db(tmp_path / "app.db", 10, "old")
    target, scratch = target_and_scratch(live)
    conn = sqlite3.connect(scratch.path)
    conn.execute("PRAGMA user_version = 7")  # no tables: one page
    conn.close()
    pre = target.swap_in(scratch, target.prerestore_name("op_1_abc"))
    with sqlite3.connect(live) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 7 and conn.execute("PRAGMA page_count").fetchone()[0] == 1
    assert sqlite_snapshot(pre)["items"][0] == 10


def test_prerestore_copies_never_share_a_name(tmp_path):
    live = make_db(tmp_path / "app.db", 10, "old")
    target = SqliteTarget(DbUrl.parse(f"sqlite:///{live}"))
    first = target.prerestore_name("op_1_abc")
    Path(first).write_bytes(b"")
    second = target.prerestore_name("op_2_abc")
    assert second != first and Path(second).name.startswith("app.db.prerestore-")
    target.drop_named(second)  # still recognised as a pre-restore copy
