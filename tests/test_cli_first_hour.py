"""The command line as a new user meets it in the first hour: an upload to a
wrong address fails at once, no log lines on the terminal, listings that never
cut what must be copied, one data folder wherever a command runs."""

import subprocess
import time

from .pgserver import free_port
from .tcpproxy import TcpProxy
from .test_upload_cli import run_upload, upload_cmd
from .tus_helpers import make_big_sqlite_backup, make_sqlite_backup


# -- upload: never reached vs. reached and then broken ------------------------------------

def test_an_upload_to_an_address_where_nothing_listens_fails_at_once(web_server, tmp_path):
    source = make_sqlite_backup(tmp_path / "ok.sqlite3", rows=10)
    port = free_port()  # closed: nothing listens there
    started = time.monotonic()
    done = run_upload(web_server, source, port=port, cwd=tmp_path, cache=tmp_path / "c")  # default: 10 retries
    elapsed = time.monotonic() - started
    assert done.returncode == 1
    assert f"Nothing answers at http://127.0.0.1:{port}/" in done.stderr, done.stderr
    assert "Trying again" not in done.stderr and "connection to the server was lost" not in done.stderr
    assert elapsed < 20, elapsed  # start-up of the interpreter only, not three minutes of retries


def test_a_connection_that_worked_and_broke_is_retried_and_the_upload_finishes(web_server, tmp_path):
    source = make_big_sqlite_backup(tmp_path / "big.sqlite3", megabytes=4)
    proxy = TcpProxy(web_server.port, rate=1_000_000).start()
    try:
        argv, env = upload_cmd(web_server, source, "--chunk-size", "256K", port=proxy.port, cache=tmp_path / "c")
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        time.sleep(1.5)  # a few chunks through the slow proxy
        assert proc.poll() is None
        proxy.cut()  # the connection breaks, and for a moment nothing answers
        time.sleep(2)
        proxy.rate = None
        proxy.restore()
        out, err = proc.communicate(timeout=120)
    finally:
        proxy.cut()
    assert proc.returncode == 0, err
    assert "The connection to the server was lost." in err and "Trying again" in err
    assert "Nothing answers" not in err
    assert out.strip().startswith("bk_")
