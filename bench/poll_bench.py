"""Status polling benchmark: 200 browsers watching one restore.

    .venv/bin/python bench/poll_bench.py [--rows 30000000] [--clients 200] [--seconds 60]
                                         [--rounds 2] [--dump PATH]

Starts its own throwaway PostgreSQL server and ``dbkeeper serve`` on its
defaults (SQLite control database and queue in a fresh data folder, gunicorn
with its default processes and threads, one worker, the watchdog). It builds
a table of ``--rows`` rows with an index, dumps it in custom format, stores
the dump as a backup and restores it into a target through the JSON API,
alternating runs without and with pollers (``--rounds`` pairs, then one more
without), each from the same state (no target database, disk settled):

- without pollers, a single monitor polls every 2 s (it does in every run);
- with pollers, ``--clients`` clients each poll the status endpoint once a
  second for ``--seconds`` seconds over loopback, each with its own operation
  token (X-Temp-Token) on a keep-alive connection, as browsers do.

Prints the polls' p50/p99/max latency (target p99 <= 50 ms), the error count
(target 0) and the median restore time with pollers over the median without
(target <= 1.10). The restore should outlast the polling window; the script
says so if ``--rows`` is too small for this machine. ``--dump`` keeps the dump
for the next run (building 30 million rows takes minutes).
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.builders import dump_custom, make_big_pg_source  # noqa: E402
from tests.pgserver import PASSWORD, PgServer, free_port  # noqa: E402

P99_TARGET_MS = 50
TIME_RATIO_TARGET = 1.10
REQUEST_TIMEOUT = 10
TARGET_DB = "bench_target"


class Serve:
    """``dbkeeper serve`` in a fresh data folder."""

    def __init__(self, folder):
        self.data = Path(folder) / "data"
        self.port = free_port()
        # XDG_CONFIG_HOME: serve records its data folder there, not in the user's own.
        self.env = {**os.environ, "DBKEEPER_DATA_DIR": str(self.data), "PYTHONPATH": str(ROOT),
                    "DJANGO_SETTINGS_MODULE": "dbkeeper.site.settings", "XDG_CONFIG_HOME": str(Path(folder) / "config")}
        self.log = open(Path(folder) / "serve.log", "wb")
        self.proc = None

    def cli(self, *args, input=None):
        result = subprocess.run([sys.executable, "-m", "dbkeeper", *args], env=self.env, capture_output=True,
                                text=True, input=input, timeout=600)
        if result.returncode:
            raise SystemExit(f"dbkeeper {args[0]} failed: {result.stderr}")
        return result.stdout

    def start(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "dbkeeper", "serve", "--port", str(self.port)],
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(self.url("/login/"), timeout=2)
                return self
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still starting up
                time.sleep(0.3)
        raise SystemExit("dbkeeper serve did not answer within 60 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


def api(serve, api_token, method, path, **kwargs):
    answer = requests.request(method, serve.url(path), headers={"Authorization": f"Bearer {api_token}"},
                              timeout=REQUEST_TIMEOUT, **kwargs)
    if answer.status_code >= 400:
        raise SystemExit(f"{method} {path}: {answer.status_code} {answer.text}")
    return answer.json()


def wait_finished(serve, status_url, token):
    """Poll every 2 s (the same light monitoring in every run); returns the final status."""
    while True:
        data = requests.get(serve.url(status_url), headers={"X-Temp-Token": token}, timeout=REQUEST_TIMEOUT).json()
        if data["finished"]:
            return data
        time.sleep(2)


def restore_seconds(status):
    if status["status"] != "succeeded":
        raise SystemExit(f"the restore did not succeed: {status['error']}")
    return (datetime.fromisoformat(status["updated_at"]) - datetime.fromisoformat(status["started_at"])).total_seconds()


# -- the pollers ----------------------------------------------------------------

async def poller(port, path, token, until, latencies, errors, first_delay):
    """One browser tab: a keep-alive connection, one GET a second, with the
    ETag of the last answer in If-None-Match as the progress page sends it."""
    await asyncio.sleep(first_delay)
    etag = None
    reader = writer = None
    next_at = time.monotonic()
    while next_at < until:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        next_at += 1.0
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            condition = f"If-None-Match: {etag}\r\n" if etag else ""
            writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n"
                          f"X-Temp-Token: {token}\r\n{condition}Connection: keep-alive\r\n\r\n").encode())
            status, body, keep, headers = await asyncio.wait_for(read_response(reader), REQUEST_TIMEOUT)
            latencies.append((time.perf_counter() - started) * 1000)
            if status == 200 and json.loads(body).get("id"):
                etag = headers.get("etag")
            elif not (status == 304 and etag):
                errors.append(f"HTTP {status}")
            if not keep:
                writer.close()
                reader = writer = None
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            errors.append(type(exc).__name__)
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, body, headers.get("connection", "").lower() != "close", headers


async def poll_all(port, path, tokens, seconds):
    latencies, errors = [], []
    until = time.monotonic() + seconds
    await asyncio.gather(*(poller(port, path, token, until, latencies, errors, random.random()) for token in tokens))
    return latencies, errors


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# -- the runs -------------------------------------------------------------------

def settle(pg, target):
    """The same starting point for every run: no target database, nothing
    left for the disk to write from the run before."""
    for name in pg.databases():
        if name == target or name.startswith(target + "__"):
            pg.drop_db(name)
    with pg.connect() as conn:
        conn.execute("CHECKPOINT")
    os.sync()
    time.sleep(5)


def run_restore(serve, api_token, backup_id, target, pg, clients=0, seconds=0):
    settle(pg, target)
    started = api(serve, api_token, "POST", "/api/restores/",
                  json={"backup_id": backup_id, "target": "bench", "confirm": "bench"})
    op_id, status_url = started["id"], started["status_url"]
    figures = {}
    if clients:
        tokens = [api(serve, api_token, "POST", f"/api/operations/{op_id}/token/")["token"] for _ in range(clients)]
        before = requests.get(serve.url(status_url), headers={"X-Temp-Token": started["token"]}, timeout=10).json()
        latencies, errors = asyncio.run(poll_all(serve.port, status_url, tokens, seconds))
        after = requests.get(serve.url(status_url), headers={"X-Temp-Token": started["token"]}, timeout=10).json()
        figures = {"latencies": latencies, "errors": errors, "covered": not before["finished"] and not after["finished"]}
    final = wait_finished(serve, status_url, started["token"])
    return restore_seconds(final), figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=30_000_000)
    parser.add_argument("--rounds", type=int, default=2, help="pairs of runs (without, with pollers), then one more without")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--dump", type=Path, help="keep the dump here and reuse it on the next run (same --rows)")
    args = parser.parse_args()

    # Stopped from outside: still stop the server and PostgreSQL (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    folder = Path(tempfile.mkdtemp(prefix="dbkeeper-pollbench-"))
    pg = PgServer().start()
    serve = Serve(folder)
    try:
        dump = args.dump or folder / "bench.dump"
        if not dump.exists():
            print(f"building {args.rows:,} rows and dumping them…", flush=True)
            make_big_pg_source(pg, "bench_source", args.rows)
            with pg.connect("bench_source") as conn:
                conn.execute("CREATE INDEX big_a ON big (a)")
            dump.parent.mkdir(parents=True, exist_ok=True)
            partial = dump.with_name(dump.name + ".partial")
            dump_custom(pg, "bench_source", partial)
            partial.rename(dump)
            pg.drop_db("bench_source")
        print(f"dump: {dump.stat().st_size / 1e6:.0f} MB", flush=True)

        serve.cli("migrate")
        serve.cli("createadmin", "bench")
        api_token = serve.cli("token", "create", "bench", "--name", "poll bench").strip().splitlines()[-1]
        serve.cli("target", "add", "bench", f"postgresql://postgres@127.0.0.1:{pg.port}/{TARGET_DB}",
                  "--password-stdin", input=PASSWORD + "\n")
        backup_id = store_backup(serve, dump)
        serve.start()

        quiet, polled, latencies, errors, covered = [], [], [], [], True
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}: no pollers…", flush=True)
            quiet.append(run_restore(serve, api_token, backup_id, TARGET_DB, pg)[0])
            print(f"  restore {quiet[-1]:.1f} s", flush=True)
            print(f"round {round_number + 1}: {args.clients} clients polling once a second for {args.seconds} s…", flush=True)
            seconds, figures = run_restore(serve, api_token, backup_id, TARGET_DB, pg, args.clients, args.seconds)
            polled.append(seconds)
            latencies += figures["latencies"]
            errors += figures["errors"]
            covered = covered and figures["covered"]
            print(f"  restore {seconds:.1f} s", flush=True)
        print("last: no pollers…", flush=True)
        quiet.append(run_restore(serve, api_token, backup_id, TARGET_DB, pg)[0])
        print(f"  restore {quiet[-1]:.1f} s", flush=True)

        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        ratio = statistics.median(polled) / statistics.median(quiet)
        print()
        print(f"polls: {len(latencies):,} answered by dbkeeper serve during the restores"
              f"{'' if covered else ' (a restore ended inside the polling window: use more --rows)'}")
        print(f"latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms (target <= {P99_TARGET_MS}), max {max(latencies):.1f} ms")
        print(f"errors: {len(errors)} (target 0){': ' + ', '.join(sorted(set(errors))) if errors else ''}")
        print(f"restore time with pollers: {', '.join(f'{t:.1f}' for t in polled)} s; "
              f"without: {', '.join(f'{t:.1f}' for t in quiet)} s")
        print(f"ratio of the medians: {ratio:.3f} (target <= {TIME_RATIO_TARGET})")
        ok = p99 <= P99_TARGET_MS and not errors and ratio <= TIME_RATIO_TARGET
        print("all targets met" if ok else "some targets missed")
        return 0 if ok else 1
    finally:
        serve.stop()
        pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


def store_backup(serve, dump):
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\nfrom dbkeeper.backups import store\n"
         f"print(store.add_file({str(dump)!r}, 'bench.dump', move=False).id)"],
        env=serve.env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


if __name__ == "__main__":
    sys.exit(main())
