"""Backup benchmark: dbkeeper's backups and verification against the raw tools, on a pgbench database.

    .venv/bin/python bench/backup_bench.py [--scale 100] [--runs 3] [--compress 6] [--baseline DIR]

Starts its own throwaway PostgreSQL server (and a SeaweedFS S3 server, with
telemetry off), fills a database with ``pgbench -i -s SCALE`` and measures,
each RUNS times, medians printed:

1. local: ``dbkeeper backup URL --compress N`` (a separate process, as a user
   runs it) against ``pg_dump -Fc -ZN -f FILE``; the operation (as dbkeeper
   records it, start-up left out) target <= 1.05, the whole command <= 1.10,
   peak memory of the dbkeeper process (VmHWM) <= 150 MB;
2. S3: ``dbkeeper backup --compress 0`` to the S3 storage against
   ``pg_dump -Fc -Z0`` to a local file followed by boto3's ``upload_file``;
   target <= 0.9 (dbkeeper uploads while pg_dump writes); memory flat;
3. encryption: the same local backup encrypted to an age recipient against
   unencrypted, operation medians; target <= 1.15;
4. verification: ``dbkeeper verify BACKUP`` against ``createdb`` +
   ``pg_restore -d`` of the same file into a new database; target <= 1.10
   (the verification also re-reads the file for its SHA-256 and counts
   every table's rows).

dbkeeper also counts each table's rows exactly (in pg_dump's snapshot) while
it backs up: work the raw side does not do. So each local run also times a
reference with no dbkeeper in it: the raw pg_dump sharing an exported
snapshot with a plain connection that counts every table's rows beside it,
as dbkeeper does; the operation over that reference is dbkeeper's own cost
(printed, no target).
"""

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pgserver import PgServer, pg_bin  # noqa: E402
from tests.s3server import S3Server  # noqa: E402

from restore_pgbench import PeakMemory  # noqa: E402  (the same /proc reader as the restore bench)

TARGET_OPERATION = 1.05
TARGET_COMMAND = 1.10
TARGET_MEMORY_MB = 150
TARGET_S3 = 0.9
TARGET_ENCRYPTED = 1.15
TARGET_VERIFY = 1.10


def run(argv, env, **kw):
    return subprocess.run(argv, env=env, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, **kw)


def timed(argv, env):
    start = time.perf_counter()
    run(argv, env)
    return time.perf_counter() - start


def timed_with_count(argv, url):
    """Seconds of ``argv`` (pg_dump, given ``--snapshot=``) run beside exact
    row counts of every user table in the same exported snapshot, as dbkeeper
    counts them (one connection, no parallel workers, no JIT)."""
    import psycopg

    start = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.execute("SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL jit = off")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        dump = subprocess.Popen([*argv, f"--snapshot={snapshot}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        tables = conn.execute(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1").fetchall()
        for (table,) in tables:
            conn.execute(f"SELECT count(*) FROM ONLY {table}").fetchone()
        _, err = dump.communicate()
        conn.execute("ROLLBACK")
    if dump.returncode != 0:
        raise SystemExit(f"pg_dump failed: {err.decode(errors='replace')[-2000:]}")
    return time.perf_counter() - start


def dbkeeper(args, env, control_db, code=ROOT):
    """(wall seconds of ``dbkeeper ARGS``, seconds of the operation it ran as
    dbkeeper records it, peak MB of the process, its stdout). ``code``: the
    checkout whose dbkeeper runs (another one: --baseline)."""
    argv = [sys.executable, "-m", "dbkeeper", *args]
    if code != ROOT:
        env = {**env, "PYTHONPATH": os.pathsep.join([str(code), env.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=code)
    watch = PeakMemory(proc.pid)
    out, err = proc.communicate()
    elapsed = time.perf_counter() - start
    watch.join()
    if proc.returncode != 0:
        raise SystemExit(f"dbkeeper {' '.join(args)} failed:\n{err.decode(errors='replace')[-2000:]}")
    with sqlite3.connect(control_db) as conn:
        started, finished = conn.execute(
            "SELECT started_at, finished_at FROM dbkeeper_operation ORDER BY created_at DESC LIMIT 1").fetchone()
    operation = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    return elapsed, operation, watch.peak_kb / 1024, out.decode().strip()


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=100, help="pgbench scale (100: 10 million accounts)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compress", type=int, default=6, help="gzip level of the local backups, both sides")
    parser.add_argument("--skip", action="append", default=[], choices=["local", "s3", "encrypted", "verify"])
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="another checkout of dbkeeper (e.g. 'git worktree add DIR main'): its verification is "
                             "timed too, interleaved with this one's, and printed beside it")
    args = parser.parse_args()

    server = PgServer().start()
    work = Path(tempfile.mkdtemp(prefix="dbkeeper-backup-bench-"))
    s3 = None
    try:
        env = server.env()
        control_db = work / "data" / "control.sqlite3"
        dk_env = {**os.environ, "DBKEEPER_DATA_DIR": str(work / "data"), "DBKEEPER_LOG_LEVEL": "WARNING",
                  "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        for name in list(dk_env):
            if name.startswith(("DBKEEPER_S3_", "DBKEEPER_AGE_")):
                del dk_env[name]
        run([sys.executable, "-m", "dbkeeper", "operations"], dk_env)  # the control database, as deployed
        print(f"pgbench -i -s {args.scale} ... (load average {load()})", flush=True)
        server.create_db("source")
        run([pg_bin("pgbench"), "-i", "-q", "-s", str(args.scale), "source"], env)
        url = server.url("source")
        raw_file = work / "raw.dump"
        figures, ok = [], True

        def report(label, ours, theirs, target, unit="s"):
            nonlocal ok
            ratio = ours / theirs
            ok &= ratio <= target
            figures.append(f"{label:<48}{ours:>9.2f}{unit} {theirs:>9.2f}{unit} {ratio:>7.3f}  (target <= {target})")

        local = {"raw": [], "command": [], "operation": [], "peak": [], "counted": []}
        backups = []
        if "local" not in args.skip or "verify" not in args.skip:
            for i in range(args.runs):
                raw = timed([pg_bin("pg_dump"), "-Fc", f"-Z{args.compress}", "-f", str(raw_file), "source"], env)
                size = raw_file.stat().st_size
                raw_file.unlink()
                counted = timed_with_count([pg_bin("pg_dump"), "-Fc", f"-Z{args.compress}", "-f", str(raw_file),
                                            url], url)
                raw_file.unlink()
                seconds, operation, peak, backup_id = dbkeeper(
                    ["backup", url, "--compress", str(args.compress)], dk_env, control_db)
                backups.append(backup_id)
                for key, value in zip(local, (raw, seconds, operation, peak, counted)):
                    local[key].append(value)
                print(f"  local run {i + 1}: pg_dump -Fc -Z{args.compress} {raw:.2f} s ({size / 1e6:.1f} MB), "
                      f"with the exact count beside it {counted:.2f} s; dbkeeper command {seconds:.2f} s, "
                      f"operation {operation:.2f} s, peak {peak:.0f} MB (load {load()})", flush=True)
            raw, command, operation = (statistics.median(local[k]) for k in ("raw", "command", "operation"))
            report("local: operation / pg_dump -Fc", operation, raw, TARGET_OPERATION)
            report("local: whole command / pg_dump -Fc", command, raw, TARGET_COMMAND)
            counted = statistics.median(local["counted"])
            figures.append(f"{'local: pg_dump -Fc with the count / pg_dump -Fc':<48}{counted:>9.2f}s {raw:>9.2f}s "
                           f"{counted / raw:>7.3f}  (reference: the count's own cost)")
            figures.append(f"{'local: operation / pg_dump -Fc with the count':<48}{operation:>9.2f}s {counted:>9.2f}s "
                           f"{operation / counted:>7.3f}  (reference: what dbkeeper adds to it)")
            peak = max(local["peak"])
            ok &= peak <= TARGET_MEMORY_MB
            figures.append(f"{'local: peak memory of dbkeeper (max of runs)':<48}{peak:>9.0f}MB  (target <= "
                           f"{TARGET_MEMORY_MB} MB)")

        if "s3" not in args.skip:
            import boto3  # noqa: F401 (present with the test extras)

            s3 = S3Server(work / "seaweedfs").start()
            bucket = s3.create_bucket("bench-backups")
            s3_env = {**dk_env, **s3.env(bucket)}
            client = s3.client()
            theirs, ours, peaks = [], [], []
            for i in range(args.runs):
                start = time.perf_counter()
                run([pg_bin("pg_dump"), "-Fc", "-Z0", "-f", str(raw_file), "source"], env)
                client.upload_file(str(raw_file), bucket, f"raw/{i}.dump")
                theirs.append(time.perf_counter() - start)
                size = raw_file.stat().st_size
                raw_file.unlink()
                seconds, operation, peak, _ = dbkeeper(["backup", url, "--compress", "0"], s3_env, control_db)
                ours.append(operation)
                peaks.append(peak)
                print(f"  s3 run {i + 1}: pg_dump -Z0 + upload_file {theirs[-1]:.2f} s ({size / 1e6:.1f} MB); "
                      f"dbkeeper command {seconds:.2f} s, operation {operation:.2f} s, peak {peak:.0f} MB "
                      f"(load {load()})", flush=True)
            report("s3 -Z0: operation / (pg_dump + upload_file)", statistics.median(ours), statistics.median(theirs),
                   TARGET_S3)
            figures.append(f"{'s3: peak memory of dbkeeper (max of runs)':<48}{max(peaks):>9.0f}MB")

        if "encrypted" not in args.skip:
            key = work / "age.key"
            public = run([sys.executable, "-m", "dbkeeper", "keygen", "--output", str(key)], dk_env).stdout.decode()
            enc_env = {**dk_env, "DBKEEPER_AGE_RECIPIENTS": public.split(":", 1)[1].strip(),
                       "DBKEEPER_AGE_IDENTITY_FILE": str(key)}
            plain, encrypted = [], []
            for i in range(args.runs):
                # Alternate which goes first, so that neither always meets a busier machine.
                order = [(plain, dk_env), (encrypted, enc_env)][:: (1 if i % 2 == 0 else -1)]
                for into, use in order:
                    into.append(dbkeeper(["backup", url, "--compress", str(args.compress)], use, control_db)[1])
                print(f"  encryption run {i + 1}: unencrypted operation {plain[-1]:.2f} s, encrypted "
                      f"{encrypted[-1]:.2f} s (load {load()})", flush=True)
            report("encrypted / unencrypted (operation)", statistics.median(encrypted), statistics.median(plain),
                   TARGET_ENCRYPTED)

        if "verify" not in args.skip:
            stored = next((work / "data" / "backups").rglob(f"*{backups[0]}.dump"))
            theirs, ours, commands = [], [], []
            before, before_commands = [], []
            for i in range(args.runs):
                start = time.perf_counter()
                run([pg_bin("createdb"), f"verify_raw_{i}"], env)
                run([pg_bin("pg_restore"), "-d", f"verify_raw_{i}", str(stored)], env)
                theirs.append(time.perf_counter() - start)
                server.drop_db(f"verify_raw_{i}")
                # Alternate which goes first, so that neither always meets a busier machine.
                for code in ([ROOT, args.baseline] if i % 2 == 0 else [args.baseline, ROOT]):
                    if code is None:
                        continue
                    seconds, operation, peak, _ = dbkeeper(["verify", backups[0]], dk_env, control_db, code=code)
                    (ours if code == ROOT else before).append(operation)
                    (commands if code == ROOT else before_commands).append(seconds)
                    which = "" if code == ROOT else " (baseline)"
                    print(f"  verify run {i + 1}: createdb + pg_restore {theirs[-1]:.2f} s; dbkeeper verify{which} "
                          f"command {seconds:.2f} s, operation {operation:.2f} s, peak {peak:.0f} MB "
                          f"(load {load()})", flush=True)
            report("verify: operation / (createdb + pg_restore)", statistics.median(ours), statistics.median(theirs),
                   TARGET_VERIFY)
            report("verify: whole command / (createdb + pg_restore)", statistics.median(commands),
                   statistics.median(theirs), TARGET_VERIFY)
            if before:
                figures.append(f"{'verify, baseline: operation / raw':<48}{statistics.median(before):>9.2f}s "
                               f"{statistics.median(theirs):>9.2f}s "
                               f"{statistics.median(before) / statistics.median(theirs):>7.3f}")
                figures.append(f"{'verify, baseline: whole command / raw':<48}"
                               f"{statistics.median(before_commands):>9.2f}s {statistics.median(theirs):>9.2f}s "
                               f"{statistics.median(before_commands) / statistics.median(theirs):>7.3f}")

        with_tools = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print()
        print(f"pgbench scale {args.scale}, median of {args.runs} runs, compression {args.compress} (local), "
              f"load average at the end {load()} on {os.cpu_count()} cores")
        print(f"{'':<48}{'dbkeeper':>10} {'raw':>10} {'ratio':>7}")
        for line in figures:
            print(line)
        print(f"largest child process, pg_dump/pg_restore included: {with_tools:.0f} MB")
        print("result:", "within targets" if ok else "OUTSIDE TARGETS")
        return 0 if ok else 1
    finally:
        if s3 is not None:
            s3.stop()
        server.stop()
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    sys.exit(main())
