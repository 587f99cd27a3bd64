"""A backup that does not finish leaves nothing: pg_dump failing, a cancel,
a worker killed with SIGKILL, a full disk. No catalog row, no stored object
(unfinished ones included), and a sentence saying why. Also: the lock a
backup shares with restores, pg_dump's version against the server's, and a
progress that moves through a long table."""

import json
import signal
import sqlite3
import subprocess
import sys
import time

import psutil
import pytest

from dbkeeper.backups import service as backup_service
from dbkeeper.backups.makers.pgdump import check_tool_version, major_of_server, parse_tool_version
from dbkeeper.backups.models import Backup
from dbkeeper.errors import DbkeeperError, TargetBusy
from dbkeeper.operations import service
from dbkeeper.operations.models import Operation

from .backup_helpers import assert_nothing_stored, make_backup, own_storage, stored_files  # noqa: F401 (fixture)
from .builders import make_big_pg_source, make_pg_source, make_sqlite
from .live import LiveServer, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_storage")]

BIG_ROWS = 2_500_000


@pytest.fixture(scope="module")
def big_source(pg):
    """One long table: pg_dump needs several seconds for it."""
    name = "bk_big_source"
    make_big_pg_source(pg, name, rows=BIG_ROWS)
    yield name
    pg.drop_db(name)


@pytest.fixture
def source(pg, pg_dbname):
    make_pg_source(pg, pg_dbname, rows=30000, value="src")
    return pg_dbname


def pg_dumps_of(operation_id) -> list:
    """The pg_dump processes of one operation (others may run on this machine)."""
    found = []
    for proc in psutil.process_iter(["name"]):
        try:
            if proc.info["name"] == "pg_dump" and proc.environ().get("PGAPPNAME") == f"dbkeeper-backup-{operation_id}":
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def when_copying(action):
    """A progress listener that runs ``action(op)`` once, as soon as pg_dump is copying rows."""
    fired = []

    def listener(op):
        if not fired and op.stage == "backing_up" and op.done > 0:
            fired.append(True)
            action(op)

    return listener, fired


# -- pg_dump's version ------------------------------------------------------------------

def test_pg_dump_must_be_at_least_the_servers_major_version():
    assert parse_tool_version("pg_dump (PostgreSQL) 15.4 (Debian 15.4-1.pgdg120+1)\n") == ((15,), "15.4")
    assert parse_tool_version("pg_dump (PostgreSQL) 9.6.24") == ((9, 6), "9.6.24")
    assert parse_tool_version("pg_dumpall (PostgreSQL) 17devel") == ((17,), "17devel")
    assert major_of_server(150004) == (15,) and major_of_server(170000) == (17,) and major_of_server(90624) == (9, 6)
    for client, server in (((15,), (15,)), ((16,), (15,)), ((10,), (9, 6)), ((9, 6), (9, 5))):
        check_tool_version("pg_dump", client, server)
    with pytest.raises(DbkeeperError) as err:
        check_tool_version("pg_dump", (15,), (16,))
    assert err.value.code == "pg_dump_too_old"
    assert err.value.message == (
        "The server runs PostgreSQL 16, but this machine's pg_dump is version 15: install pg_dump 16 or newer "
        "(on Debian or Ubuntu, the package postgresql-client-16).")
    with pytest.raises(DbkeeperError) as err:
        check_tool_version("pg_dump", (9, 6), (10,))
    assert "is version 9.6" in err.value.message
    with pytest.raises(DbkeeperError) as err:
        parse_tool_version("nothing here")
    assert err.value.code == "tool_version"


# -- failures that leave nothing ----------------------------------------------------------

def test_pg_dump_failing_leaves_no_row_and_no_file(pg, big_source):
    def end_pg_dumps_session(op):
        with pg.connect() as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                         (f"dbkeeper-backup-{op.id}",))

    listener, fired = when_copying(end_pg_dumps_session)
    op = make_backup(pg.url(big_source), format="pg_plain", compress=1, listener=listener)
    assert fired and op.status == "failed" and op.error_code == "backup_failed", op.error_message
    assert op.error_message.startswith("pg_dump failed (exit code 1): ")
    assert "terminat" in op.error_message or "closed the connection" in op.error_message
    assert op.lock_key is None
    assert_nothing_stored(op)


def test_a_table_that_cannot_be_read_is_named(pg, source):
    with pg.connect(source) as conn:
        conn.execute("DROP ROLE IF EXISTS bk_reader")
        conn.execute("CREATE ROLE bk_reader LOGIN PASSWORD 'pw-reader'")
        conn.execute("GRANT USAGE ON SCHEMA sales TO bk_reader")
        conn.execute("GRANT SELECT ON public.items TO bk_reader")
    url = f"postgresql://bk_reader:pw-reader@{pg.url(source).split('@', 1)[1]}"
    try:
        op = make_backup(url)
        assert op.status == "failed" and op.error_code == "backup_failed"
        assert op.error_message.startswith("The table sales.orders cannot be read: permission denied")
        assert_nothing_stored(op)
    finally:
        with pg.connect(source) as conn:
            conn.execute("DROP OWNED BY bk_reader")
            conn.execute("DROP ROLE bk_reader")


def test_cancel_during_the_dump_leaves_nothing(pg, big_source):
    listener, fired = when_copying(lambda op: service.cancel(Operation.objects.get(pk=op.pk), by="a test"))
    op = make_backup(pg.url(big_source), format="pg_custom", compress=9, listener=listener)
    assert fired and op.status == "cancelled" and op.error_code == "cancelled"
    assert op.error_message == "The backup was cancelled. Nothing was stored."
    assert_nothing_stored(op)
    assert pg_dumps_of(op.id) == []


def test_cancel_before_it_starts(pg, source):
    op = backup_service.record(backup_service.plan_backup(pg.url(source)))
    service.cancel(op)
    from dbkeeper.operations import runner

    assert runner.run(op.id) is None
    op.refresh_from_db()
    assert op.status == "cancelled" and op.lock_key is None
    assert op.error_message == "The backup was cancelled before it started."
    assert Backup.objects.count() == 0 and stored_files() == []


def test_a_backup_and_a_restore_of_one_target_never_overlap(pg, source, tmp_path):
    backing_up = backup_service.record(backup_service.plan_backup(pg.url(source)))
    dump = tmp_path / "other.dump"
    pg.tool("pg_dump", "-Fc", "-f", str(dump), dbname=source)
    with pytest.raises(TargetBusy) as err:
        service.create_restore(dump, pg.url(source))
    assert backing_up.id in err.value.message
    with pytest.raises(TargetBusy) as err:
        backup_service.record(backup_service.plan_backup(pg.url(source), format="pg_plain"))
    assert err.value.code == "target_busy" and backing_up.id in err.value.message
    assert "is busy: backup" in err.value.message
    service.cancel(backing_up)
    restoring = service.create_restore(dump, pg.url(source))
    with pytest.raises(TargetBusy) as err:
        backup_service.record(backup_service.plan_backup(pg.url(source)))
    assert f"is busy: restore {restoring.id} is queued" in err.value.message
    # Another database on the same server is another target.
    make_sqlite(tmp_path / "x.db")
    assert backup_service.record(backup_service.plan_backup(f"sqlite:///{tmp_path / 'x.db'}")).status == "queued"


def test_queue_down_fails_the_backup_and_frees_the_target(pg, source, monkeypatch):
    from huey import RedisHuey

    from dbkeeper.operations.queue import huey

    from .pgserver import free_port

    monkeypatch.setattr(huey, "storage", RedisHuey("dbkeeper", url=f"redis://127.0.0.1:{free_port()}/0").storage)
    with pytest.raises(DbkeeperError) as err:
        backup_service.start_backup(pg.url(source))
    assert err.value.code == "queue_down" and "Nothing was stored" in err.value.message
    op = Operation.objects.get()
    assert (op.kind, op.status, op.error_code, op.lock_key) == ("backup", "failed", "queue_down", None)


# -- progress -----------------------------------------------------------------------------

def test_progress_moves_at_least_every_two_seconds_through_a_long_table(pg, big_source):
    seen = []
    op = make_backup(pg.url(big_source), format="pg_custom",
                     listener=lambda o: seen.append((time.monotonic(), o.percent, o.done, o.total)))
    assert op.status == "succeeded", op.error_message
    assert Backup.objects.get().tables == {"public.big": BIG_ROWS}
    percents = [s[1] for s in seen]
    assert percents == sorted(percents) and percents[-1] >= 99 and op.percent == 100
    copying = [(t, p) for t, p, done, total in seen if 0 < done < total]
    assert copying[-1][0] - copying[0][0] > 4, "the long table should take several seconds"
    moves = [t for (t, p), (_, before) in zip(copying[1:], copying) if p > before]
    gaps = [b - a for a, b in zip([copying[0][0]] + moves, moves)]
    assert len(moves) >= 4 and max(gaps) <= 2.0, gaps


# -- a worker killed, a full disk: in processes of their own --------------------------------

def _backup_rows(data_dir):
    conn = sqlite3.connect(f"file:{data_dir / 'control.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT count(*) FROM dbkeeper_backup").fetchone()[0]
    finally:
        conn.close()


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_worker_killed_mid_backup_leaves_nothing(pg, big_source, tmp_path):
    server = LiveServer(tmp_path / "data")
    server.cli("migrate")
    server.start_worker()
    server.start_watchdog()
    try:
        op_id = server.cli("backup", pg.url(big_source), "--queue").stdout.strip()

        def state():
            conn = sqlite3.connect(f"file:{server.data_dir / 'control.sqlite3'}?mode=ro", uri=True, timeout=5)
            try:
                row = conn.execute("SELECT status, percent, error_code, error_message FROM dbkeeper_operation "
                                   "WHERE id = ?", (op_id,)).fetchone()
            finally:
                conn.close()
            return dict(zip(("status", "percent", "error_code", "error_message"), row))

        wait_for(lambda: state()["percent"] > 1, 60, "the backup to be under way")
        assert _files(server.data_dir / "backups"), "an unfinished file is being written"
        assert pg_dumps_of(op_id), "pg_dump is running"
        server.kill("worker", signal.SIGKILL)
        ended = wait_for(lambda: (s := state())["status"] == "failed" and s, 40, "the watchdog")
        assert ended["error_code"] == "worker_lost"
        assert ended["error_message"] == ("The worker running this backup stopped (it was killed or its machine "
                                          "went down). Nothing was stored; you can start the backup again.")
        wait_for(lambda: _files(server.data_dir / "backups") == [], 10, "the unfinished file to be removed")
        assert _backup_rows(server.data_dir) == 0
        # pg_dump died with its worker.
        wait_for(lambda: pg_dumps_of(op_id) == [], 10, "pg_dump to stop")
    finally:
        server.stop_all()


def test_full_disk_leaves_nothing_and_says_so(pg, source, tmp_path):
    server = LiveServer(tmp_path / "data")
    server.cli("migrate")
    backups = server.data_dir / "backups"
    backups.mkdir(exist_ok=True)
    script = ('mount -t tmpfs -o size=256k tmpfs "$0" && "$1" -m dbkeeper backup "$2" --format pg_plain --compress 0; '
              'echo "rc=$?"; find "$0" -type f')
    result = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, str(backups),
                             sys.executable, pg.url(source)], env=server.env, capture_output=True, text=True,
                            timeout=120)
    assert "rc=1" in result.stdout, result.stdout + result.stderr
    assert result.stdout.strip().endswith("rc=1"), "no file left on the full disk: " + result.stdout
    said = " ".join(result.stderr.split())  # rich wraps long lines
    assert "The backup storage is full: [Errno 28] No space left on device" in said
    assert said.endswith("Nothing was stored."), said
    assert _backup_rows(server.data_dir) == 0
    ops = json.loads(server.cli("operations", "--json").stdout)
    assert [(o["kind"], o["status"]) for o in ops] == [("backup", "failed")]


def test_a_source_that_is_not_there_is_refused_before_anything_is_recorded(pg, pg_dbname, tmp_path):
    from dbkeeper.errors import TargetError

    with pytest.raises(TargetError) as err:
        make_backup(pg.url(pg_dbname + "_missing"))
    assert f'database "{pg_dbname}_missing" does not exist' in err.value.message
    with pytest.raises(DbkeeperError) as err:
        make_backup(f"sqlite:///{tmp_path / 'nowhere.db'}")
    assert err.value.code == "source_missing" and "nowhere.db does not exist" in err.value.message
    assert Operation.objects.count() == 0 and stored_files() == []


def test_a_stopping_worker_ends_its_backup_and_removes_the_unfinished_file(pg, source):
    from django.utils import timezone

    from dbkeeper.backups.storage import get_storage
    from dbkeeper.operations.runner import abandon_own_operations, worker_name

    op = backup_service.record(backup_service.plan_backup(pg.url(source)))
    Operation.objects.filter(pk=op.pk).update(status="running", worker=worker_name(), heartbeat_at=timezone.now())
    writer = get_storage().writer("2026/11/unfinished.dump", op.id)
    writer.write(b"PGDMP half")  # a writer whose process is going away: never committed, never aborted
    assert stored_files() != []
    abandon_own_operations()
    op.refresh_from_db()
    assert (op.status, op.error_code, op.lock_key) == ("failed", "worker_lost", None)
    assert op.error_message == ("The worker was stopped while it ran this backup. Nothing was stored; "
                                "you can start the backup again.")
    assert stored_files() == [] and Backup.objects.count() == 0
    writer._fh.close()
