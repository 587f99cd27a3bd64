"""Schedule tick benchmark: one minute's tick with 1,000 schedules.

    .venv/bin/python bench/schedule_tick_bench.py [--schedules 1000] [--targets 50] [--minutes 3]

Sets up a throwaway data folder (SQLite control database and queue, as the
embedded server has), SQLite targets, and SCHEDULES schedules spread over
them, all due every minute (the worst case: every schedule due in the same
minute), written in 256 different ways. Then ticks MINUTES simulated minutes, one tick each, and prints for
each tick its wall time and the CPU time of the ticking thread, and what it
did: the first minute records every slot as queued and starts at most
SCHEDULE_STARTS_PER_MINUTE backups (queued for a worker, none running here);
the next ones find the previous runs still waiting and record every slot as
skipped. Target: <= 0.5 s per tick.
"""

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def every_minute(n: int) -> str:
    """The n-th of 256 different spellings of "every minute", so that no two
    schedules of a zone share an expression (the tick parses each one once)."""
    spellings = [("*", "0-59", "*/1", "0-59/1"), ("*", "0-23", "*/1", "0-23/1"), ("*", "1-31", "*/1", "1-31/1"),
                 ("*", "1-12", "*/1", "1-12/1")]
    fields = []
    for options in spellings:
        fields.append(options[n % 4])
        n //= 4
    return " ".join(fields) + " *"


def _profiled(fn, *args):
    import cProfile
    import pstats

    profile = cProfile.Profile()
    result = profile.runcall(fn, *args)
    pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--minutes", type=int, default=3)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="dbkeeper-tick-bench-"))
    os.environ["DBKEEPER_DATA_DIR"] = str(folder / "data")
    os.environ["DJANGO_SETTINGS_MODULE"] = "dbkeeper.site.settings"
    import django

    django.setup()
    from django.conf import settings

    from dbkeeper.schedules import cron
    from dbkeeper.schedules.models import Schedule, ScheduleRun
    from dbkeeper.schedules.tick import tick
    from dbkeeper.server import migrate

    migrate()
    targets = {}
    for i in range(args.targets):
        path = folder / f"db{i}.sqlite3"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.executemany("INSERT INTO t (v) VALUES (?)", [(str(n),) for n in range(100)])
        conn.commit()
        conn.close()
        targets[f"t{i}"] = f"sqlite:///{path}"
    settings.DBKEEPER["TARGETS"] = targets

    start = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)
    rows = []
    for i in range(args.schedules):
        zone = ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata")[i % 4]
        expr = every_minute(i // 4)
        slot, due = cron.first_after(expr, cron.zone(zone), start - timedelta(seconds=30))
        rows.append(Schedule(name=f"s{i:05d}", target=f"t{i % args.targets}", cron=expr, timezone=zone,
                             retention={"keep_daily": 7}, next_slot=slot, next_due_at=due))
    Schedule.objects.bulk_create(rows)
    print(f"{args.schedules} schedules on {args.targets} SQLite targets, all due every minute; "
          f"SCHEDULE_STARTS_PER_MINUTE={settings.DBKEEPER.get('SCHEDULE_STARTS_PER_MINUTE', 3)}")
    from dbkeeper.schedules.tick import prepare

    wall, cpu = time.perf_counter(), time.thread_time()
    parsed = prepare(start)
    print(f"start-up of the ticking thread (once per process: imports, {parsed} cron expressions parsed): "
          f"wall {time.perf_counter() - wall:.3f} s, CPU {time.thread_time() - cpu:.3f} s")
    worst = 0.0
    for m in range(args.minutes):
        now = start + timedelta(minutes=m, seconds=1)
        wall, cpu = time.perf_counter(), time.thread_time()
        result = tick(now) if not os.environ.get("TICK_PROFILE") else _profiled(tick, now)
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        worst = max(worst, wall)
        print(f"minute {m + 1}: wall {wall:.3f} s, CPU {cpu:.3f} s; queued {len(result.queued)}, "
              f"skipped {len(result.skipped)}, missed {len(result.missed)}, started {len(result.started)}")
    print(f"runs recorded: {ScheduleRun.objects.count()}; load average {os.getloadavg()[0]:.2f}")
    print(f"slowest tick: {worst:.3f} s (target <= 0.5 s): {'ok' if worst <= 0.5 else 'OVER'}")


if __name__ == "__main__":
    main()
