"""The real processes: `dbkeeper serve` starting and stopping, the worker
killed mid-restore, the Redis queue, and a PostgreSQL control database."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import requests

from .builders import dump_custom, make_big_pg_source, make_pg_source
from .dbsnapshot import pg_snapshot
from .live import LiveServer, wait_for
from .pgserver import conninfo, free_port


def test_serve_starts_everything_and_stops_on_sigterm_within_10_seconds(tmp_path):
    port = free_port()
    env = {**os.environ, "DBKEEPER_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen([sys.executable, "-m", "dbkeeper", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "is running at" in line:
                break
        output = "".join(lines)
        assert "username: admin" in output and "password: " in output
        LiveServer.wait_http(f"http://127.0.0.1:{port}/login/")
        assert requests.get(f"http://127.0.0.1:{port}/login/", timeout=5).status_code == 200
        children = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "gunicorn" in names and "worker" in names and "watchdog" in names
        # One web process by default (gunicorn's arbiter and one worker): it answers polls for less processor time.
        web = [c for c in children if "gunicorn" in " ".join(c.cmdline())]
        arbiters = [c for c in web if c.ppid() not in {w.pid for w in web}]
        assert len(arbiters) == 1 and len(arbiters[0].children()) == 1, [c.cmdline() for c in web]
        assert (tmp_path / "data" / "control.sqlite3").exists()

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=12)
        assert time.monotonic() - started < 10
        assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # A second start does not create another admin or print a password again.
    second = subprocess.run([sys.executable, "-m", "dbkeeper", "createadmin", "admin"], env=env, capture_output=True, text=True)
    assert second.returncode == 1 and "exists already" in second.stderr


def start_serve(data_dir, port):
    env = {**os.environ, "DBKEEPER_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "dbkeeper", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    LiveServer.wait_http(f"http://127.0.0.1:{port}/login/")
    return proc


def test_serve_killed_outright_takes_its_parts_with_it_and_starts_again_on_the_same_port(tmp_path):
    port = free_port()
    proc = start_serve(tmp_path / "data", port)
    parts = psutil.Process(proc.pid).children(recursive=True)
    second = None
    try:
        assert len(parts) >= 4, [p.cmdline() for p in parts]  # web (arbiter and worker), worker, watchdog
        proc.kill()  # SIGKILL: serve has no chance to stop them itself
        proc.wait()
        _, alive = psutil.wait_procs(parts, timeout=15)
        assert not alive, [p.cmdline() for p in alive]
        # Nothing holds the port any more: a new serve starts there and answers.
        second = start_serve(tmp_path / "data", port)
        assert requests.get(f"http://127.0.0.1:{port}/login/", timeout=5).status_code == 200
    finally:
        for leftover in [p for p in parts if p.is_running()]:
            leftover.kill()
        for started in (proc, second):
            if started is not None and started.poll() is None:
                started.send_signal(signal.SIGTERM)
                started.wait(timeout=15)


def test_worker_killed_mid_restore_is_reported_and_changes_nothing(pg, pg_dbname, tmp_path):
    make_big_pg_source(pg, "src_kill", rows=2_500_000)
    dump = dump_custom(pg, "src_kill", tmp_path / "big.dump")
    make_pg_source(pg, pg_dbname, rows=200, value="live")
    before = pg_snapshot(conninfo(pg, pg_dbname))
    server = LiveServer(tmp_path / "data")
    server.cli("migrate")
    server.start_worker()
    server.start_watchdog()
    try:
        op_id = server.start_restore(dump, pg.url(pg_dbname))
        wait_for(lambda: server.fast_state(op_id).get("stage") == "restoring", 60, "the restore to start")
        time.sleep(0.3)
        assert server.fast_state(op_id)["status"] == "running"
        server.kill("worker", signal.SIGKILL)
        # pg_restore dies with its worker instead of writing on.
        wait_for(lambda: not _tools_reading(dump), 10, "pg_restore to stop")
        state = wait_for(lambda: (s := server.operation(op_id))["status"] == "failed" and s, 40, "the watchdog")
        assert state["error_code"] == "worker_lost"
        assert "worker" in state["error_message"] and "not changed" in state["error_message"]
        wait_for(lambda: not server.operation(op_id)["scratch"], 10, "the scratch to be dropped")
        assert not [d for d in pg.databases() if d.startswith(pg_dbname + "__")]
        assert pg_snapshot(conninfo(pg, pg_dbname)) == before
    finally:
        server.stop_all()
        pg.drop_db("src_kill")


def _tools_reading(path):
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "pg_restore" and str(path) in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def test_redis_queue_and_postgresql_control_database(pg, pg_dbname, tmp_path, redis_url):
    """The scaled-out setup: records in PostgreSQL, queue in Redis, a worker
    that shares nothing else with the process that queued the restore."""
    make_pg_source(pg, "src_scale", rows=500, value="scaled")
    dump = dump_custom(pg, "src_scale", tmp_path / "scale.dump")
    pg.drop_db("dbkeeper_control")
    pg.create_db("dbkeeper_control")
    env = {"DBKEEPER_REDIS_URL": redis_url, "DBKEEPER_CONTROL_DATABASE_URL": pg.url("dbkeeper_control")}
    web_side = LiveServer(tmp_path / "web-host", **env)
    worker_side = LiveServer(tmp_path / "worker-host", **env)
    try:
        web_side.cli("migrate")
        worker_side.start_worker()
        op_id = web_side.start_restore(dump, pg.url(pg_dbname))
        state = wait_for(lambda: (s := web_side.operation(op_id))["status"] in ("succeeded", "failed") and s, 60, "the restore")
        assert state["status"] == "succeeded", state
        assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, "src_scale"))
        with pg.connect("dbkeeper_control") as conn:
            assert conn.execute("SELECT status FROM dbkeeper_operation WHERE id = %s", (op_id,)).fetchone()[0] == "succeeded"
        assert not (tmp_path / "web-host" / "control.sqlite3").exists()
        listing = json.loads(web_side.cli("operations", "--json").stdout)
        assert [(o["id"], o["status"]) for o in listing] == [(op_id, "succeeded")]
        assert op_id in web_side.cli("operations").stdout
    finally:
        worker_side.stop_all()
        pg.drop_db("src_scale")
        pg.drop_db("dbkeeper_control")
