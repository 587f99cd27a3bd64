"""Retention benchmark: one pass of the planner over a catalog of 100,000 backups.

    .venv/bin/python bench/retention_bench.py [--backups 100000] [--runs 3]

Fills a throwaway control database (SQLite, in a temporary data folder) with
BACKUPS catalog rows of one target (one backup an hour, some pinned, some
verified) and a retention policy for it (keep-last 24, keep-within 7d,
keep-daily 30, keep-weekly 52, keep-monthly 120, keep-yearly 10); then, RUNS
times, a fresh process runs ``prune(target, dry_run=True)``: the whole pass
(reading the catalog, the active operations, the plan with its reasons)
short of deleting. Prints the seconds of the pass, the process's peak memory
(ru_maxrss) before and after it, and the medians. Targets: ≤ 2 s, ≤ 100 MB.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 2.0
TARGET_MEMORY_MB = 100
POLICY = {"keep_last": 24, "keep_within": "7d", "keep_daily": 30, "keep_weekly": 52, "keep_monthly": 120,
          "keep_yearly": 10}


def setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dbkeeper.site.settings")
    import django

    django.setup()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(count):
    setup_django()
    from datetime import datetime, timedelta, timezone

    from dbkeeper.backups.models import Backup, RetentionPolicy
    from dbkeeper.server import migrate

    migrate()
    start = datetime(2026, 11, 30, 12, tzinfo=timezone.utc) - timedelta(hours=count)
    batch = []
    for n in range(count):
        created = start + timedelta(hours=n, minutes=n % 7)
        batch.append(Backup(id=f"bk_{n:016x}", name=f"bench-{n}.dump", storage_name=f"bench/{n}.dump", size=1000 + n,
                            sha256="0" * 64, format="pg_custom", source="backup", created_at=created,
                            target_spec="bench", target_display="bench", database="bench", origin="manual",
                            pinned=n % 5000 == 0, verification_outcome="passed" if n % 997 == 0 else ""))
        if len(batch) == 5000:
            Backup.objects.bulk_create(batch)
            batch = []
    Backup.objects.bulk_create(batch)
    RetentionPolicy.objects.create(target="bench", policy=POLICY, timezone="Europe/Paris")


def one_pass():
    setup_django()
    from dbkeeper.backups import pruning
    from dbkeeper.backups.models import Backup

    Backup.objects.exists()  # open the connection before the clock starts
    before = peak_mb()
    start = time.perf_counter()
    result = pruning.prune("bench", dry_run=True)
    seconds = time.perf_counter() - start
    decisions = result.groups[0].decisions
    kept = sum(1 for d in decisions if d.keep)
    print(f"{seconds:.3f} {before:.1f} {peak_mb():.1f} {len(decisions)} {kept}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backups", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=["fill", "pass"])
    args = parser.parse_args()
    if args.child == "fill":
        return fill(args.backups)
    if args.child == "pass":
        return one_pass()

    with tempfile.TemporaryDirectory(prefix="dbkeeper-retention-bench-") as data:
        env = {**os.environ, "DBKEEPER_DATA_DIR": data, "DJANGO_SETTINGS_MODULE": "dbkeeper.site.settings"}
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--child", "fill", "--backups", str(args.backups)], env=env,
                       check=True, cwd=ROOT)
        print(f"catalog of {args.backups:,} backups filled in {time.perf_counter() - started:.1f} s; "
              f"load average {os.getloadavg()[0]:.2f}")
        seconds, peaks = [], []
        for run in range(1, args.runs + 1):
            out = subprocess.run([sys.executable, __file__, "--child", "pass"], env=env, check=True, cwd=ROOT,
                                 stdout=subprocess.PIPE, text=True).stdout.split()
            took, before, after, planned, kept = float(out[0]), float(out[1]), float(out[2]), int(out[3]), int(out[4])
            seconds.append(took)
            peaks.append(after)
            print(f"run {run}: pass {took:.3f} s over {planned:,} backups ({kept:,} kept); peak memory "
                  f"{before:.1f} MB before the pass, {after:.1f} MB after (+{after - before:.1f}); "
                  f"load average {os.getloadavg()[0]:.2f}")
        median_s, median_mb = statistics.median(seconds), statistics.median(peaks)
        print(f"median: {median_s:.3f} s (target <= {TARGET_SECONDS} s: {'ok' if median_s <= TARGET_SECONDS else 'MISSED'}), "
              f"peak {median_mb:.1f} MB (target <= {TARGET_MEMORY_MB} MB: "
              f"{'ok' if median_mb <= TARGET_MEMORY_MB else 'MISSED'})")


if __name__ == "__main__":
    main()
