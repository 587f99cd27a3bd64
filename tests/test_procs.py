"""Waiting on a tool: the exit code, a timeout while it runs, a kill, and an
end noticed when it happens (not at the next of Popen's timed checks)."""

import subprocess
import time

import pytest

from dbkeeper.procs import Tool


def test_wait_returns_the_exit_code_and_the_error_output():
    tool = Tool(["sh", "-c", "echo 'pg_restore: error: bad' >&2; exit 3"])
    assert tool.wait(timeout=10) == 3
    assert tool.errors() == "pg_restore: error: bad"


def test_a_running_tool_times_out_then_dies_when_killed():
    tool = Tool(["sleep", "30"])
    with pytest.raises(subprocess.TimeoutExpired):
        tool.wait(timeout=0.2)
    assert tool.poll() is None
    tool.kill()
    assert tool.wait(timeout=5) == -9


def test_waiting_does_not_sleep_between_checks(monkeypatch):
    # Popen.wait(timeout) polls with time.sleep (up to 50 ms late each time a
    # tool ends); the tool's own waiter blocks in waitpid instead.
    def no_sleep(seconds):
        raise AssertionError(f"slept {seconds} s while waiting for a tool")

    tool = Tool(["sleep", "0.3"])
    monkeypatch.setattr(subprocess.time, "sleep", no_sleep)
    started = time.monotonic()
    while True:
        try:
            code = tool.wait(timeout=0.05)
            break
        except subprocess.TimeoutExpired:
            assert time.monotonic() - started < 10
    assert code == 0
