"""The real standalone server for end-to-end tests: web (gunicorn), worker and
watchdog as separate processes on a throwaway data folder, so that tests can
kill, restart or cut any one of them."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import requests

from .pgserver import free_port

ROOT = Path(__file__).resolve().parent.parent


def wait_for(predicate, timeout, what):
    """Poll ``predicate`` until it returns something true (and return that); a
    connection error or half-written answer meanwhile counts as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (OSError, ValueError):
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stop_process_groups(procs):
    """SIGTERM each process group, then SIGKILL whatever is still there after 15 s."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class LiveServer:
    def __init__(self, data_dir, **env):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "dbkeeper.site.settings",
            "DBKEEPER_DATA_DIR": str(self.data_dir),
            "DBKEEPER_HEARTBEAT_SECONDS": "1",
            "DBKEEPER_HEARTBEAT_TIMEOUT": "6",
            "DBKEEPER_WATCHDOG_INTERVAL": "1",
            "PYTHONPATH": str(ROOT),
            **{k: str(v) for k, v in env.items()},
        }
        self.procs = {}
        self.port = None
        self.logs = self.data_dir / "test-logs"
        self.logs.mkdir(exist_ok=True)

    # -- one-off commands ----------------------------------------------------
    def cli(self, *args, check=True, input=None, timeout=120):
        """Run ``dbkeeper ARGS`` against this server's data folder."""
        return subprocess.run([sys.executable, "-m", "dbkeeper", *args], env=self.env, capture_output=True,
                              text=True, check=check, input=input, timeout=timeout)

    def python(self, code, timeout=60):
        """Run Python with Django set up on this server's settings; returns stdout."""
        prelude = "import django; django.setup()\n"
        result = subprocess.run([sys.executable, "-c", prelude + code], env=self.env, capture_output=True,
                                text=True, timeout=timeout)
        if result.returncode:
            raise AssertionError(f"server-side python failed:\n{result.stderr}")
        return result.stdout

    def create_user(self, username, password, staff=True, superuser=False):
        self.cli("migrate")
        self.python(
            "from django.contrib.auth import get_user_model\n"
            f"get_user_model().objects.create_user({username!r}, password={password!r}, "
            f"is_staff={staff!r}, is_superuser={superuser!r})\n"
        )

    # -- what the control database says ---------------------------------------
    def operation(self, op_id):
        """The operation's state, read through Django."""
        out = self.python(
            "import json\nfrom dbkeeper.operations.models import Operation\n"
            f"op = Operation.objects.get(pk={op_id!r})\n"
            "print(json.dumps({'status': op.status, 'stage': op.stage, 'percent': op.percent, "
            "'error_code': op.error_code, 'error_message': op.error_message, 'scratch': op.scratch_name}))"
        )
        return json.loads(out.strip().splitlines()[-1])

    def fast_state(self, op_id):
        """The operation's row read straight from the control file (a poll must
        be quicker than a Django start-up to catch a restore mid-way)."""
        conn = sqlite3.connect(f"file:{self.data_dir / 'control.sqlite3'}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute("SELECT status, stage, percent FROM dbkeeper_operation WHERE id = ?", (op_id,)).fetchone()
        finally:
            conn.close()
        return {"status": row[0], "stage": row[1], "percent": row[2]} if row else {}

    def start_restore(self, path, target):
        """Queue a restore of ``path`` into ``target`` as the web does; returns its id."""
        out = self.python(
            "from dbkeeper import targets\nfrom dbkeeper.operations import service\n"
            f"confirm = targets.resolve({target!r}).name\n"
            f"op = service.start_restore({str(path)!r}, {target!r}, confirm=confirm).operation\nprint(op.id)"
        )
        return out.strip().splitlines()[-1]

    # -- processes -----------------------------------------------------------
    def _spawn(self, name, args):
        out = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "dbkeeper", *args], env=self.env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_web(self, name="web", port=None, processes=2, threads=8, options=()):
        port = port or free_port()
        self.cli("migrate")
        self._spawn(name, ["web", "--port", str(port), "--processes", str(processes), "--threads", str(threads),
                           *options])
        self.wait_http(f"http://127.0.0.1:{port}/login/")
        if self.port is None:
            self.port = port
        return port

    def start_worker(self, name="worker"):
        return self._spawn(name, ["worker", "--workers", "2"])

    def start_watchdog(self, name="watchdog"):
        return self._spawn(name, ["watchdog"])

    def start_all(self):
        self.start_web()
        self.start_worker()
        self.start_watchdog()
        return self

    def kill(self, name, sig=signal.SIGKILL):
        proc = self.procs.pop(name)
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(timeout=15)

    def stop_all(self):
        stop_process_groups(self.procs.values())
        self.procs.clear()

    def url(self, path="/", port=None):
        return f"http://127.0.0.1:{port or self.port}{path}"

    @staticmethod
    def wait_http(url, timeout=30, ready=lambda response: True, log=lambda: ""):
        """Until ``url`` answers (and ``ready(response)`` holds); a refused
        connection and a read that timed out while a loaded machine starts the
        server both mean "not yet". ``log()`` is shown if it never answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready(requests.get(url, timeout=2)):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{url} did not answer within {timeout} s\n{log()}")

    def log_text(self, name):
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def start_live_server(folder, user, password, *, token_name=None, everything=False, web=None, **env):
    """A LiveServer with one staff user: the web process alone (``web``: its
    start_web arguments), or with worker and watchdog too (``everything``);
    with ``token_name``, an API token of that user is in ``server.token``."""
    server = LiveServer(folder, **env)
    server.create_user(user, password, staff=True)
    if everything:
        server.start_all()
    else:
        server.start_web(**(web or {}))
    if token_name:
        server.token = server.cli("token", "create", user, "--name", token_name).stdout.strip()
    return server


def run_dbkeeper(tmp_path, *args, input=None):
    """``dbkeeper ARGS`` as a user runs it, with its data folder in ``tmp_path``
    and a wide terminal."""
    env = {**os.environ, "DBKEEPER_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, "-m", "dbkeeper", *args], env=env, capture_output=True, text=True,
                          input=input, timeout=300)
