"""Running the PostgreSQL tools (pg_restore, psql, pg_dump) as children that
cannot outlive their worker, can be cancelled, and whose error output is kept
(bounded) for the message the user sees."""

import collections
import ctypes
import functools
import logging
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
_libc = None


def signal_when_parent_dies(signum, parent_pid):
    """In a child between fork and exec: the kernel sends it ``signum`` when
    its parent ends, however (SIGKILL included). A parent that ended before
    the request was made is caught by the check after it."""
    global _libc
    try:
        _libc = _libc or ctypes.CDLL("libc.so.6", use_errno=True)
        _libc.prctl(PR_SET_PDEATHSIG, signum)
    except OSError:
        return
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signum)


def _die_with_parent(parent_pid):
    # If the worker is killed (even with SIGKILL), the tool dies too instead of
    # writing on into a scratch database nobody will check.
    signal_when_parent_dies(signal.SIGKILL, parent_pid)
    os.setpgrp()


def pg_tool(name: str) -> str:
    """Path of a PostgreSQL client tool, preferring the newest installed version."""
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True, key=lambda p: _version_key(p.parent.name)):
        candidate = base / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        from .errors import RestoreFailed
        from .messages import N_

        raise RestoreFailed(N_("The PostgreSQL tool %(name)s is not installed on this machine."), params={"name": name})
    return found


def _version_key(text):
    return tuple(int(p) if p.isdigit() else 0 for p in text.split("."))


class Tool:
    """A running tool. ``stderr_tail`` keeps the last lines of its error output;
    ``on_stderr_line`` (optional) sees every line as it comes (for progress)."""

    def __init__(self, argv, env=None, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, on_stderr_line=None, tail_lines=40):
        self.argv = list(argv)
        self.on_stderr_line = on_stderr_line
        self.stderr_tail = collections.deque(maxlen=tail_lines)
        full_env = {**os.environ, **(env or {})}
        full_env.setdefault("LC_MESSAGES", "C")
        log.info("running %s", " ".join(self.argv))  # never holds a password: those go by env
        self.proc = subprocess.Popen(
            self.argv, env=full_env, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
            preexec_fn=functools.partial(_die_with_parent, os.getpid()), close_fds=True,
        )
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        # Popen.wait(timeout) sleeps between checks (up to 50 ms each): a
        # thread blocked in waitpid says the moment the tool ends instead.
        self._exited = threading.Event()
        threading.Thread(target=self._wait_for_exit, daemon=True).start()

    def _wait_for_exit(self):
        try:
            self.proc.wait()
        finally:
            self._exited.set()

    def _read_stderr(self):
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stderr_tail.append(line)
            if self.on_stderr_line:
                try:
                    self.on_stderr_line(line)
                except Exception:
                    log.exception("stderr handler failed")
        self.proc.stderr.close()

    def poll(self):
        return self.proc.poll()

    def wait(self, timeout=None):
        """The exit code; TimeoutExpired if the tool still runs after ``timeout`` seconds."""
        if not self._exited.wait(timeout):
            raise subprocess.TimeoutExpired(self.argv, timeout)
        self._reader.join(timeout=5)
        return self.proc.returncode

    def kill(self):
        """Stop the tool and everything it started (parallel pg_restore workers)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.error("%s did not stop after SIGKILL", self.argv[0])

    def errors(self) -> str:
        """The tool's error lines, for a message (only lines that say ERROR/FATAL, else the tail)."""
        lines = [l for l in self.stderr_tail if "error" in l.lower() or "fatal" in l.lower()]
        return "\n".join(lines or list(self.stderr_tail)[-5:]).strip()
