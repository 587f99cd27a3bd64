"""One log line per request, written off the request path (dbkeeper.logqueue):
every line reaches the log file, also when the server is stopped right after
the requests; under `dbkeeper serve` the web server's request lines go to the
file only, unless -v."""

import os
import re
import signal
import subprocess
import sys
import textwrap

import requests

from .live import ROOT, LiveServer, stop_process_groups, wait_for
from .pgserver import free_port

TOKEN_POLLS = 40
SESSIONLESS_POLLS = 10


def make_watched_operation(server):
    """An operation of a user and a token to poll it with, in the server's control database."""
    server.create_user("ada", "a-long-password-1", staff=True)
    out = server.python(textwrap.dedent("""\
        from django.contrib.auth import get_user_model
        from dbkeeper.access import operation_tokens as tokens
        from dbkeeper.operations.models import Operation
        ada = get_user_model().objects.get(username="ada")
        op = Operation.objects.create(user_id=str(ada.pk), username="ada", source_name="shop.dump",
                                      target_display="postgresql://app@db/shop", status="running")
        print(op.id, tokens.issue(op))
    """))
    op_id, token = out.split()[-2:]
    return op_id, token


def poll(port, op_id, token, times):
    with requests.Session() as browser:
        for _ in range(times):
            headers = {"X-Temp-Token": token} if token else {}
            answer = browser.get(f"http://127.0.0.1:{port}/restore-progress/{op_id}/status/", headers=headers,
                                 timeout=10)
            assert answer.status_code == (200 if token else 401), answer.text


def request_lines(text, op_id):
    return re.findall(rf"INFO dbkeeper\.web\.status \d+ status op={op_id} auth=(\w+) user=\S+ token=\S+ code=(\d+)",
                      text)


def expected_lines(token_polls=TOKEN_POLLS, sessionless_polls=SESSIONLESS_POLLS):
    return sorted([("operation_token", "200")] * token_polls + [("none", "401")] * sessionless_polls)


def serve(tmp_path, server, *options):
    port = free_port()
    terminal = open(tmp_path / "terminal.txt", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "dbkeeper", *options, "serve", "--port", str(port)],
                            env=server.env, stdout=terminal, stderr=subprocess.STDOUT, start_new_session=True)
    LiveServer.wait_http(f"http://127.0.0.1:{port}/login/", timeout=60,
                         log=lambda: (tmp_path / "terminal.txt").read_text(errors="replace"))
    return proc, port


def stop_serve(proc):
    proc.send_signal(signal.SIGTERM)  # as Ctrl-C or a service manager stops it
    proc.wait(timeout=20)


def test_serve_writes_each_request_line_to_the_file_only_and_loses_none_at_a_stop(tmp_path):
    server = LiveServer(tmp_path / "data")
    op_id, token = make_watched_operation(server)
    proc, port = serve(tmp_path, server)
    try:
        poll(port, op_id, token, TOKEN_POLLS)
        poll(port, op_id, None, SESSIONLESS_POLLS)
        # Stopped at once: lines still queued in the web server are written before it exits.
        stop_serve(proc)
    finally:
        stop_process_groups([proc])
    log_file = (server.data_dir / "logs" / "dbkeeper.log").read_text(errors="replace")
    assert sorted(request_lines(log_file, op_id)) == expected_lines()
    terminal = (tmp_path / "terminal.txt").read_text(errors="replace")
    assert "is running at" in terminal
    assert not request_lines(terminal, op_id) and "status op=" not in terminal, terminal
    # The worker's lines are still shown: only the web server's request lines are kept off the terminal.
    assert "worker started" in terminal


def test_serve_verbose_shows_the_request_lines_on_the_terminal_too(tmp_path):
    server = LiveServer(tmp_path / "data")
    op_id, token = make_watched_operation(server)
    proc, port = serve(tmp_path, server, "-v")
    try:
        poll(port, op_id, token, 5)
        stop_serve(proc)
    finally:
        stop_process_groups([proc])
    terminal = (tmp_path / "terminal.txt").read_text(errors="replace")
    log_file = (server.data_dir / "logs" / "dbkeeper.log").read_text(errors="replace")
    assert request_lines(terminal, op_id) == request_lines(log_file, op_id) == [("operation_token", "200")] * 5


def test_the_web_server_stopped_by_sigterm_has_written_every_line(tmp_path):
    """`dbkeeper web` alone, its process group stopped with SIGTERM (the
    arbiter and its workers at once): every line on stderr and in the file."""
    server = LiveServer(tmp_path / "data")
    op_id, token = make_watched_operation(server)
    port = server.start_web(processes=2, threads=4)
    try:
        poll(port, op_id, token, TOKEN_POLLS)
        poll(port, op_id, None, SESSIONLESS_POLLS)
    finally:
        server.stop_all()
    log_file = (server.data_dir / "logs" / "dbkeeper.log").read_text(errors="replace")
    assert sorted(request_lines(log_file, op_id)) == expected_lines()
    assert sorted(request_lines(server.log_text("web"), op_id)) == expected_lines()


WRITER = """
import logging, sys, threading
from dbkeeper import logqueue

logging.basicConfig(filename=sys.argv[1], level=logging.INFO, format="%(threadName)s %(message)s")
assert logqueue.start() and logqueue.start()  # a second start changes nothing
log = logging.getLogger("dbkeeper.test")

def write(n):
    for i in range(2000):
        log.info("line %s-%s", n, i)

threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
try:
    raise ValueError("kept with its traceback")
except ValueError:
    log.exception("a failure")
log.info("stack", stack_info=True)
sys.exit(0)  # as gunicorn's worker leaves; the queue is written out on the way
"""


def test_queued_lines_are_all_written_once_with_tracebacks_when_the_process_exits(tmp_path):
    path = tmp_path / "lines.log"
    subprocess.run([sys.executable, "-c", WRITER, str(path)], check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    text = path.read_text()
    lines = re.findall(r"^Thread-\d+ \(write\) line (\d+)-(\d+)$", text, re.M)
    assert sorted(lines) == sorted((str(n), str(i)) for n in range(8) for i in range(2000))
    assert text.count("ValueError: kept with its traceback") == 1
    assert text.count("Stack (most recent call last)") == 1


def test_the_root_logger_gets_its_handlers_back_after_stop(tmp_path):
    path = tmp_path / "lines.log"
    code = textwrap.dedent("""\
        import logging, sys
        from dbkeeper import logqueue
        logging.basicConfig(filename=sys.argv[1], level=logging.INFO, format="%(message)s")
        handlers = list(logging.getLogger().handlers)
        assert logqueue.start() and logqueue.running()
        assert logging.getLogger().handlers != handlers
        logging.getLogger("x").info("queued")
        logqueue.stop()
        assert logging.getLogger().handlers == handlers and not logqueue.running()
        logging.getLogger("x").info("direct")
        assert open(sys.argv[1]).read() == "queued\\ndirect\\n"
    """)
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    # A process whose root logger has no handlers: nothing to move.
    result = subprocess.run([sys.executable, "-c", "from dbkeeper import logqueue\nassert not logqueue.start()"],
                            capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr


def test_the_writing_thread_wakes_for_gathered_lines_not_for_each_one(tmp_path):
    """200 lines logged 2.5 ms apart (a busy web process) are written in a
    few gatherings, each at most GATHER_SECONDS after its first line, and
    none is lost."""
    code = textwrap.dedent("""\
        import logging, sys, time
        from dbkeeper import logqueue

        class Times(logging.Handler):
            def __init__(self):
                super().__init__()
                self.written = []
            def emit(self, record):
                self.written.append((time.monotonic(), record.created))

        times = Times()
        logging.getLogger().addHandler(times)
        logging.getLogger().setLevel(logging.INFO)
        assert logqueue.start()
        for i in range(200):
            logging.getLogger("x").info("line %s", i)
            time.sleep(0.0025)
        logqueue.stop()
        assert len(times.written) == 200
        gatherings = 1 + sum(1 for (a, _), (b, _) in zip(times.written, times.written[1:]) if b - a > 0.001)
        lateness = max(written - logged for written, logged in times.written)
        print(gatherings, round(lateness, 3))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    gatherings, lateness = result.stdout.split()
    # About 0.5 s of lines: one gathering per 50 ms, not a write 2.5 ms after the last for each line
    # (a loaded machine may split a gathering, never make 200 of them).
    assert 3 <= int(gatherings) <= 60
    assert float(lateness) < 1.0
