"""A real, throwaway PostgreSQL server for the tests, started from the
installed binaries in a temporary folder (as the postgres user when the tests
run as root, since initdb refuses root). Connections over TCP need a password,
so the tests also prove that dbkeeper passes it without a command line."""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

PASSWORD = "s3cret-test-pw"


def pg_bin(tool):
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / tool).exists():
            return str(base / tool)
    found = shutil.which(tool)
    if not found:
        raise RuntimeError(f"{tool} not found: install Debian's postgresql package (scripts/test does)")
    return found


def conninfo(pg, dbname):
    """psycopg connection arguments for ``dbname`` on the test server ``pg``, over TCP with the password."""
    return {"host": "127.0.0.1", "port": pg.port, "user": pg.user, "password": PASSWORD, "dbname": dbname}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="dbkeeper-pg-"))
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.port = free_port()
        self.user = "postgres"
        self._as_postgres = os.geteuid() == 0

    def _run(self, argv, **kw):
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)

    def start(self):
        self.sock.mkdir(parents=True)
        pwfile = self.base / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")
            for p in (self.base, self.sock, pwfile):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self._run([pg_bin("initdb"), "-D", str(self.data), "-U", self.user, "-E", "UTF8", "--locale=C.UTF-8",
                   "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"])
        self.resume()
        return self

    def stop(self):
        try:
            self._run([pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def halt(self):
        """Stop the server but keep its data, for resume() (a server that went down)."""
        self._run([pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def resume(self):
        opts = (f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        self._run([pg_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.base / "log"), "-w", "start"])

    def url(self, dbname="postgres"):
        return f"postgresql://{self.user}:{PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname="postgres", **kw):
        return psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, password=PASSWORD,
                               dbname=dbname, autocommit=True, **kw)

    def env(self, dbname="postgres"):
        return {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGUSER": self.user,
                "PGPASSWORD": PASSWORD, "PGDATABASE": dbname}

    def tool(self, name, *args, dbname="postgres", **kw):
        """Run a PostgreSQL client tool against this server (for building fixtures)."""
        return subprocess.run([pg_bin(name), *args], env=self.env(dbname), check=True, capture_output=True, **kw)

    def databases(self):
        with self.connect() as conn:
            return {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate")}

    def create_db(self, name):
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def drop_db(self, name):
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
