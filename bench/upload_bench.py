"""Upload benchmark: ``dbkeeper upload`` (tus, 8 MiB chunks) against one
plain multipart POST of the same file to a minimal Django view, both served
by the same gunicorn server over loopback.

    .venv/bin/python bench/upload_bench.py [--size-mb 2048] [--runs 2] [--file PATH]

The file is a real SQLite database (random blobs), so the tus upload ends
the way it does in use: SHA-256 recorded, recognised by the engines, stored
as a backup. The multipart view only saves the file, as apps do today.

Each run starts a fresh web server (one gunicorn process, gthread) on a
throwaway data folder, warms it up with a small upload of the same kind,
resets the worker's peak-memory mark (/proc/PID/clear_refs), uploads, and
reads the worker's VmHWM: the growth is that peak minus the resident size
before the upload. Throughput is the file size over the wall-clock time of
the whole client command (tus: creation, every chunk, the completion and
the result; multipart: the one request).
"""

import argparse
import http.client
import os
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dbkeeper.server import gunicorn_argv  # noqa: E402
from tests.live import LiveServer  # noqa: E402
from tests.pgserver import free_port  # noqa: E402

MB = 1024 * 1024


def make_backup(path, size_mb):
    if path.exists() and path.stat().st_size >= size_mb * MB:
        return path
    path.unlink(missing_ok=True)
    print(f"making a {size_mb} MiB SQLite database at {path} …", flush=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)")
    conn.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                 "INSERT INTO blobs (data) SELECT randomblob(1048576) FROM n", (size_mb,))
    conn.commit()
    conn.close()
    return path


def proc_status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


class Server:
    """One gunicorn web process (plus its master) on a fresh data folder,
    serving dbkeeper and the bench's multipart view."""

    def __init__(self, workdir):
        self.data = Path(tempfile.mkdtemp(prefix="upload-bench-", dir=workdir))
        self.live = LiveServer(self.data, DJANGO_SETTINGS_MODULE="bench.multipart_settings", DBKEEPER_LOG_LEVEL="WARNING")
        self.live.create_user("bench", secrets.token_urlsafe(12), staff=True)
        self.token = self.live.cli("token", "create", "bench").stdout.strip()
        self.port = free_port()
        args = argparse.Namespace(host="127.0.0.1", port=self.port, processes=1, threads=8)
        self.master = subprocess.Popen(gunicorn_argv(args), env=self.live.env, stdout=subprocess.DEVNULL,
                                       stderr=open(self.data / "gunicorn.log", "wb"), start_new_session=True)
        LiveServer.wait_http(f"http://127.0.0.1:{self.port}/login/")
        children = Path(f"/proc/{self.master.pid}/task/{self.master.pid}/children").read_text().split()
        assert len(children) == 1, children
        self.worker = int(children[0])

    def reset_peak(self):
        Path(f"/proc/{self.worker}/clear_refs").write_text("5")  # VmHWM := VmRSS
        return proc_status(self.worker)

    def stop(self):
        self.master.terminate()
        self.master.wait(timeout=30)


def tus_upload(server, path, cache):
    env = {**os.environ, "DBKEEPER_TOKEN": server.token, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "dbkeeper", "upload", str(path), "--server",
                             f"http://127.0.0.1:{server.port}/", "--chunk-size", "8M"],
                            env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"dbkeeper upload failed:\n{result.stderr}")
    return elapsed


def multipart_upload(server, path):
    """One streamed multipart/form-data POST (1 MiB writes), as a browser form sends it."""
    boundary = secrets.token_hex(16)
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600, blocksize=MB)
    started = time.perf_counter()
    conn.putrequest("POST", "/bench/multipart/")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + size + len(tail)))
    conn.endheaders()
    conn.send(head)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(MB), b""):
            conn.send(block)
    conn.send(tail)
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    if response.status != 200:
        raise SystemExit(f"multipart upload failed: {response.status} {body[:200]!r}")
    return elapsed


def measure(kind, path, warmup, workdir):
    # The data folder stays until the end: deleting gigabytes (with discard)
    # would slow down the next run's writes.
    server = Server(workdir)
    try:
        cache = Path(tempfile.mkdtemp(dir=workdir))
        run = (lambda p: tus_upload(server, p, cache)) if kind == "tus" else (lambda p: multipart_upload(server, p))
        run(warmup)  # imports, first connections, first queries
        os.sync()  # no dirty pages of an earlier run being written back meanwhile
        before = server.reset_peak()
        elapsed = run(path)
        after = proc_status(server.worker)
        return elapsed, after["VmHWM"] - before["VmRSS"]
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--file", type=Path, default=None, help="reuse this SQLite file (made if missing)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()

    path = make_backup(args.file or args.workdir / f"upload-bench-{args.size_mb}.sqlite3", args.size_mb)
    warmup = make_backup(args.workdir / "upload-bench-warmup.sqlite3", 4)
    size = path.stat().st_size
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # both start from a warm page cache
    results = {"multipart": [], "tus": []}
    scratch = Path(tempfile.mkdtemp(prefix="upload-bench-runs-", dir=args.workdir))
    try:
        run_all(args, path, warmup, size, results, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report(args, size, results)


def run_all(args, path, warmup, size, results, scratch):
    for run in range(args.runs):
        for kind in ("multipart", "tus"):
            elapsed, growth = measure(kind, path, warmup, scratch)
            results[kind].append((elapsed, growth))
            print(f"run {run + 1} {kind:9}: {elapsed:6.2f} s  {size / elapsed / 1e6:7.1f} MB/s  "
                  f"web process peak memory +{growth / 1e6:.1f} MB", flush=True)


def report(args, size, results):
    def median(kind, i):
        return statistics.median(r[i] for r in results[kind])

    tus_rate, multipart_rate = size / median("tus", 0) / 1e6, size / median("multipart", 0) / 1e6
    tus_growth, multipart_growth = max(r[1] for r in results["tus"]), max(r[1] for r in results["multipart"])
    print()
    print(f"file: {size / 1e9:.2f} GB ({size:,} bytes), {args.runs} run(s) each, medians")
    print(f"multipart POST to a minimal Django view: {multipart_rate:7.1f} MB/s  peak memory growth {multipart_growth / 1e6:6.1f} MB")
    print(f"dbkeeper upload (tus, 8 MiB chunks):     {tus_rate:7.1f} MB/s  peak memory growth {tus_growth / 1e6:6.1f} MB")
    print(f"throughput ratio tus / multipart: {tus_rate / multipart_rate:.2f} (target >= 1.0)")
    print(f"web process peak memory growth during the tus upload: {tus_growth / 1e6:.1f} MB (target <= 50 MB)")


if __name__ == "__main__":
    main()
