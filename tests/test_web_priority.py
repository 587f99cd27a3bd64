"""The web server yields the processor to the restores and backups it reports
on: its worker processes lower their priority (nice) by ``--nice`` (default
10, or DBKEEPER_WEB_NICE); its arbiter, the queue worker and the watchdog keep
theirs, and the pages still answer. Their heartbeat files are in /dev/shm."""

import os

import pytest
import requests

from .live import LiveServer, run_dbkeeper


def niceness(pid):
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[16])


def opened_paths(pid):
    """What a process has open; a descriptor closed between the listing and
    its reading (the request just answered closing its socket) is skipped."""
    paths = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            paths.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            continue
    return paths


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
            if parent == pid:
                found.append(int(entry))
    return found


@pytest.mark.parametrize("options, lowered_by", [((), 10), (("--nice", "4"), 4), (("--nice", "0"), 0)])
def test_web_workers_run_lowered_by_the_niceness_asked(tmp_path, options, lowered_by):
    mine = os.nice(0)
    server = LiveServer(tmp_path / "data")
    try:
        port = server.start_web(processes=2, options=options)
        arbiter = server.procs["web"].pid  # `dbkeeper web` becomes gunicorn's arbiter (exec)
        workers = children(arbiter)
        assert len(workers) == 2
        assert niceness(arbiter) == mine
        assert [niceness(w) for w in workers] == [min(19, mine + lowered_by)] * 2
        assert requests.get(f"http://127.0.0.1:{port}/login/", timeout=10).status_code == 200
        # Each worker's heartbeat file (touched on every loop) is in memory, not on a disk's journal.
        for worker in workers:
            opened = opened_paths(worker)
            assert any(path.startswith("/dev/shm/") for path in opened), opened
    finally:
        server.stop_all()


def test_the_niceness_comes_from_the_environment_too(tmp_path):
    server = LiveServer(tmp_path / "data")
    server.env["DBKEEPER_WEB_NICE"] = "3"
    try:
        server.start_web(processes=1)
        (worker,) = children(server.procs["web"].pid)
        assert niceness(worker) == min(19, os.nice(0) + 3)
    finally:
        server.stop_all()


def test_a_niceness_out_of_range_is_refused_with_a_sentence(tmp_path):
    result = run_dbkeeper(tmp_path, "web", "--nice", "25")
    assert result.returncode == 2 and "--nice" in result.stderr and "invalid choice" in result.stderr


@pytest.mark.parametrize("option, value", [("--processes", "0"), ("--threads", "0"), ("--processes", "-2"),
                                           ("--threads", "two")])
def test_a_web_server_that_could_not_answer_is_refused_with_a_sentence(tmp_path, option, value):
    result = run_dbkeeper(tmp_path, "web", option, value)
    assert result.returncode == 2 and option in result.stderr
    assert "at least 1" in result.stderr or "not a whole number" in result.stderr


def test_the_process_count_from_the_environment_is_checked_too(tmp_path, monkeypatch):
    monkeypatch.setenv("DBKEEPER_WEB_PROCESSES", "0")
    result = run_dbkeeper(tmp_path, "web")
    assert result.returncode == 2 and "--processes" in result.stderr and "at least 1" in result.stderr
