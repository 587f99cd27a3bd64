"""Restore benchmark: dbkeeper against the raw tools, on a pgbench database.

    .venv/bin/python bench/restore_pgbench.py [--scale 50] [--runs 3] [--jobs 1]

Starts its own throwaway PostgreSQL server, fills it with ``pgbench -i -s
SCALE``, dumps it in custom format and as plain SQL, then restores each dump
RUNS times with the raw tool and with ``dbkeeper restore`` (a separate
process, as a user runs it) into a database that does not exist yet, and
prints the medians, their ratios, and the peak memory of the dbkeeper process.

The server's superuser is the target, so dbkeeper runs each dump's SQL as a
throwaway unprivileged role and hands the objects over afterwards (the
least-privilege path). Each run also restores the same dump through a target
added with ``--trust-superuser`` (the direct path, as before): the
operations' medians are compared, target at most 1.03.

Raw times count createdb and the tool (pg_restore -d, psql -f; the tool
alone is printed too); dbkeeper's count everything its command does: starting
up, reading the dump, creating the scratch database, restoring, checking and
renaming it into place.
"""

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pgserver import PgServer, pg_bin  # noqa: E402

TARGET_RATIO = 1.10
TARGET_MEMORY_MB = 150
TARGET_LEAST_PRIVILEGE_RATIO = 1.03


def run(argv, env):
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def timed(argv, env):
    start = time.perf_counter()
    run(argv, env)
    return time.perf_counter() - start


class PeakMemory:
    """Peak resident memory of one process alone (VmHWM, read from /proc
    while it runs; the last reading is at most 50 ms before it exits)."""

    def __init__(self, pid):
        self.pid = pid
        self.peak_kb = 0
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self):
        status = Path(f"/proc/{self.pid}/status")
        while True:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                return
            time.sleep(0.05)

    def join(self):
        self._thread.join(timeout=5)


def trusted_target(name, url, env):
    """A target added as a user adds one, trusting its backups fully: the direct path."""
    run([sys.executable, "-m", "dbkeeper", "target", "add", name, url, "--trust-superuser"], env)
    return name


def dbkeeper_restore(dump, url, jobs, env, control_db):
    """Wall seconds of ``dbkeeper restore DUMP --target URL --yes``, seconds
    of the operation it ran (started to finished, as dbkeeper records it:
    the command's start-up left out), and the process's peak memory in MB."""
    argv = [sys.executable, "-m", "dbkeeper", "restore", str(dump), "--target", url, "--yes", "--jobs", str(jobs)]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    watch = PeakMemory(proc.pid)
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    watch.join()
    if proc.returncode != 0:
        raise SystemExit(f"dbkeeper restore failed:\n{err.decode(errors='replace')[-2000:]}")
    with sqlite3.connect(control_db) as conn:
        started, finished = conn.execute(
            "SELECT started_at, finished_at FROM dbkeeper_operation ORDER BY created_at DESC LIMIT 1").fetchone()
    operation = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    return elapsed, operation, watch.peak_kb / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=50, help="pgbench scale (50: 5 million accounts)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="pg_restore --jobs, for both sides")
    args = parser.parse_args()

    server = PgServer().start()
    work = Path(tempfile.mkdtemp(prefix="dbkeeper-bench-"))
    try:
        env = server.env()
        control_db = work / "data" / "control.sqlite3"
        dk_env = {**os.environ, "DBKEEPER_DATA_DIR": str(work / "data"), "DBKEEPER_LOG_LEVEL": "WARNING",
                  "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        # dbkeeper's modules byte-compiled once, as installing the package does (pip writes the .pyc
        # files; with PYTHONDONTWRITEBYTECODE set, every command would compile them again).
        run([sys.executable, "-m", "compileall", "-q", str(ROOT / "dbkeeper")], dk_env)
        # Create dbkeeper's control database now, as a deployed dbkeeper has it already.
        run([sys.executable, "-m", "dbkeeper", "operations"], dk_env)
        print(f"pgbench -i -s {args.scale} ...", flush=True)
        server.create_db("source")
        run([pg_bin("pgbench"), "-i", "-q", "-s", str(args.scale), "source"], env)
        custom, plain = work / "source.dump", work / "source.sql"
        run([pg_bin("pg_dump"), "-Fc", "-f", str(custom), "source"], env)
        run([pg_bin("pg_dump"), "-Fp", "-f", str(plain), "source"], env)
        server.drop_db("source")
        print(f"custom dump {custom.stat().st_size / 1e6:.1f} MB, plain dump {plain.stat().st_size / 1e6:.1f} MB; "
              f"{args.runs} runs each, jobs={args.jobs}", flush=True)

        results, directs = {}, {}

        def measure(label, raw_argv_for, dump):
            raw, command, operation, memory, direct = [], [], [], [], []
            for i in range(args.runs):
                # The raw side creates its fresh database too, as dbkeeper does.
                created = timed([pg_bin("createdb"), f"raw_{i}"], env)
                tool_only = timed(raw_argv_for(f"raw_{i}"), env)
                raw.append(created + tool_only)
                server.drop_db(f"raw_{i}")
                def least_privilege():
                    result = dbkeeper_restore(dump, server.url(f"ours_{i}"), args.jobs, dk_env, control_db)
                    server.drop_db(f"ours_{i}")
                    return result

                def direct_path():
                    name = trusted_target(f"direct_{label}_{i}", server.url(f"direct_{i}"), dk_env)
                    result = dbkeeper_restore(dump, name, args.jobs, dk_env, control_db)
                    server.drop_db(f"direct_{i}")
                    return result[1]

                # Alternate which path goes first, so that neither always meets a busier server.
                if i % 2:
                    direct_seconds = direct_path()
                    seconds, op_seconds, peak_mb = least_privilege()
                else:
                    seconds, op_seconds, peak_mb = least_privilege()
                    direct_seconds = direct_path()
                command.append(seconds)
                operation.append(op_seconds)
                memory.append(peak_mb)
                direct.append(direct_seconds)
                print(f"  {label} run {i + 1}: raw {raw[-1]:.2f} s (tool alone {tool_only:.2f} s); "
                      f"dbkeeper command {seconds:.2f} s, operation {op_seconds:.2f} s, peak {peak_mb:.0f} MB; "
                      f"direct path operation {direct_seconds:.2f} s", flush=True)
            results[label] = [statistics.median(x) for x in (raw, command, operation)] + [max(memory)]
            directs[label] = statistics.median(direct)

        measure("custom", lambda db: [pg_bin("pg_restore"), f"--jobs={args.jobs}", "-d", db, str(custom)], custom)
        measure("plain", lambda db: [pg_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(plain), "-d", db], plain)
        with_tools = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

        print()
        print(f"pgbench scale {args.scale}, median of {args.runs} runs, jobs={args.jobs}; targets: ratio <= {TARGET_RATIO}, "
              f"peak <= {TARGET_MEMORY_MB} MB")
        print(f"{'dump':<8}{'raw':>8}{'command':>9}{'ratio':>7}{'operation':>11}{'ratio':>7}{'peak MB':>9}")
        ok = True
        for label, (raw, command, operation, peak) in results.items():
            ok &= command / raw <= TARGET_RATIO and peak <= TARGET_MEMORY_MB
            print(f"{label:<8}{raw:>7.2f}s{command:>8.2f}s{command / raw:>7.3f}{operation:>10.2f}s{operation / raw:>7.3f}{peak:>9.0f}")
        print(f"least-privilege path (throwaway role, hand-over) against the direct path (a target trusting its "
              f"backups), operation medians; target ratio <= {TARGET_LEAST_PRIVILEGE_RATIO}")
        for label, (_, _, operation, _) in results.items():
            ratio = operation / directs[label]
            ok &= ratio <= TARGET_LEAST_PRIVILEGE_RATIO
            print(f"{label:<8}least-privilege {operation:.2f} s, direct {directs[label]:.2f} s, ratio {ratio:.3f}")
        print("raw: createdb + the tool. command: the whole `dbkeeper restore` process, start-up included.\n"
              "operation: the restore as dbkeeper records it (validate, scratch, restore, check, swap), which is\n"
              "what a worker spends per restore; the command's start-up (Python, Django) is paid once by a worker.")
        print(f"peak memory: dbkeeper process alone (VmHWM) as above; largest of all child processes "
              f"including pg_restore/psql: {with_tools:.0f} MB; target {TARGET_MEMORY_MB} MB")
        print("result:", "within targets" if ok else "OUTSIDE TARGETS")
        return 0 if ok else 1
    finally:
        server.stop()
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    sys.exit(main())
