"""The example host project (``example/``) run for real: ``manage.py``
commands, Python on its settings, and its processes (gunicorn serving
example.wsgi, ``manage.py dbkeeper worker``), each on a throwaway data folder
and database."""

import json
import os
import subprocess
import sys
from pathlib import Path


from .live import LiveServer, stop_process_groups
from .pgserver import free_port

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example"


def canonical(obj):
    """A dumpdata object with its many-to-many lists (lists of keys) in a fixed order."""
    fields = {}
    for name, value in obj["fields"].items():
        if isinstance(value, list) and value and all(isinstance(v, (int, list)) for v in value):
            value = sorted(value, key=json.dumps)
        fields[name] = value
    return {**obj, "fields": fields}


class HostProject:
    def __init__(self, data_dir, database_url=None, **env):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DBKEEPER_", "EXAMPLE_"))}
        self.env = {
            **base,
            "DJANGO_SETTINGS_MODULE": "example.settings",
            "EXAMPLE_DATA_DIR": str(self.data_dir),
            "PYTHONPATH": f"{EXAMPLE}{os.pathsep}{ROOT}",
            "DBKEEPER_HEARTBEAT_SECONDS": "1",
            "DBKEEPER_HEARTBEAT_TIMEOUT": "10",
            "DBKEEPER_WATCHDOG_INTERVAL": "1",
            **{k: str(v) for k, v in env.items()},
        }
        if database_url:
            self.env["EXAMPLE_DATABASE_URL"] = database_url
        self.procs = {}
        self.logs = self.data_dir / "test-logs"
        self.logs.mkdir(exist_ok=True)
        self.port = None

    def using(self, database_url) -> "HostProject":
        """The same project (same data folder) on another database."""
        other = HostProject.__new__(HostProject)
        other.__dict__.update(self.__dict__)
        other.env = {**self.env, "EXAMPLE_DATABASE_URL": database_url}
        other.procs = {}
        return other

    # -- one-off commands ----------------------------------------------------------
    def manage(self, *args, check=True, timeout=300, input=None):
        result = subprocess.run([sys.executable, str(EXAMPLE / "manage.py"), *map(str, args)], env=self.env,
                                cwd=EXAMPLE, capture_output=True, text=True, timeout=timeout, input=input)
        if check and result.returncode:
            raise AssertionError(f"manage.py {' '.join(map(str, args))} failed ({result.returncode}):\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
        return result

    def python(self, code, timeout=120):
        """Run Python with Django set up on the project's settings; returns stdout."""
        result = subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + code], env=self.env,
                                cwd=EXAMPLE, capture_output=True, text=True, timeout=timeout)
        if result.returncode:
            raise AssertionError(f"host-project python failed:\n{result.stderr[-5000:]}")
        return result.stdout

    def python_json(self, code):
        """Run code that ends by printing one JSON value; return that value."""
        return json.loads(self.python(code).strip().splitlines()[-1])

    def dumpdata(self, *args) -> list:
        """What the database holds, as dumpdata sees it, in an order that does
        not depend on the database (objects sorted; many-to-many lists sorted)."""
        out = self.manage("dumpdata", *args).stdout
        return sorted(json.dumps(canonical(o), sort_keys=True) for o in json.loads(out))

    # -- processes -------------------------------------------------------------------
    def _spawn(self, name, argv):
        out = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, env=self.env, cwd=EXAMPLE, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_web(self, port=None):
        self.port = port or free_port()
        self._spawn("web", [sys.executable, "-m", "gunicorn", "example.wsgi:application", "--bind",
                            f"127.0.0.1:{self.port}", "--workers", "2", "--worker-class", "gthread",
                            "--threads", "8", "--access-logfile", "-"])
        LiveServer.wait_http(self.url("/accounts/login/"), log=lambda: self.log_text("web"))
        return self.port

    def start_worker(self):
        return self._spawn("worker", [sys.executable, str(EXAMPLE / "manage.py"), "dbkeeper", "worker", "--workers", "2"])

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop_all(self):
        stop_process_groups(self.procs.values())
        self.procs.clear()

    def log_text(self, name):
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""
