"""Duplicate benchmark: the database manager's copy against the raw tools, on
a pgbench database.

    .venv/bin/python bench/duplicate_bench.py [--scale 50] [--runs 5] [--strategy wal_log] [--skip template|stream]

Starts its own throwaway PostgreSQL server, fills it with ``pgbench -i -s
SCALE``, then copies it RUNS times each way, alternating which goes first:

- by template: dbkeeper's duplicate operation (recorded, then run as the
  worker runs it: sessions counted and ended, CREATE DATABASE … TEMPLATE under
  a scratch name, owner, rename into place) against ``createdb -T SOURCE
  --strategy STRATEGY`` with the same strategy; target median ratio ≤ 1.05;
- streamed: the same operation with mode "stream" (an empty database, then
  ``pg_dump -Fc | pg_restore`` piped into each other) against ``createdb`` and
  ``pg_dump -Fc SOURCE | pg_restore -d COPY`` run by hand in a shell; target
  ≤ 1.10.

dbkeeper's times are those of the operation in this process (Django already
started), from the record to its end; each copy is dropped before the next.
The load average is printed with each run: the machine may be shared.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pgserver import PgServer, pg_bin  # noqa: E402

TARGETS = {"template": 1.05, "stream": 1.10}


def setup_django(data_dir, url):
    os.environ["DBKEEPER_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dbkeeper.site.settings")
    import django
    from django.conf import settings

    django.setup()
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {"bench": url}}
    from dbkeeper.server import migrate

    migrate()
    import logging

    logging.disable(logging.INFO)  # the figures only


def dbkeeper_copy(source, name, mode, strategy):
    from dbkeeper.databases import service
    from dbkeeper.operations import runner

    started = time.perf_counter()
    plan = service.plan_duplicate("bench", source, name, mode=mode, end_sessions=True, strategy=strategy)
    op = service.record_duplicate(*plan)
    runner.run(op.id)
    elapsed = time.perf_counter() - started
    op.refresh_from_db()
    if op.status != "succeeded":
        raise SystemExit(f"dbkeeper's copy failed: {op.error_message}")
    return elapsed


def raw_copy(pg, source, name, mode, strategy):
    env = pg.env()
    started = time.perf_counter()
    if mode == "template":
        argv = [pg_bin("createdb"), "-T", source, name] + ([f"--strategy={strategy}"] if strategy else [])
        subprocess.run(argv, env=env, check=True, capture_output=True)
    else:
        script = (f'"{pg_bin("createdb")}" "{name}" && "{pg_bin("pg_dump")}" -Fc --no-password -d "{source}" | '
                  f'"{pg_bin("pg_restore")}" --no-password --exit-on-error -d "{name}"')
        subprocess.run(["bash", "-o", "pipefail", "-c", script], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--strategy", default="wal_log", choices=["wal_log", "file_copy"])
    parser.add_argument("--skip", action="append", default=[], choices=["template", "stream"])
    args = parser.parse_args()

    pg = PgServer().start()
    try:
        source = "bench_source"
        pg.create_db(source)
        t0 = time.perf_counter()
        subprocess.run([pg_bin("pgbench"), "-i", "-q", "-s", str(args.scale), source], env=pg.env(source),
                       check=True, capture_output=True)
        with pg.connect(source) as conn:
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        print(f"pgbench scale {args.scale}: {size}, made in {time.perf_counter() - t0:.1f} s")
        setup_django(Path(tempfile.mkdtemp(prefix="dbkeeper-bench-")), pg.url(source))

        results = {}
        for mode in ("template", "stream"):
            if mode in args.skip:
                continue
            ours, raws = [], []
            for n in range(args.runs):
                order = [("dbkeeper", ours), ("raw", raws)]
                if n % 2:
                    order.reverse()
                for who, times in order:
                    name = f"bench_copy_{who}"
                    pg.drop_db(name)
                    with pg.connect() as conn:
                        conn.execute("CHECKPOINT")
                    if who == "dbkeeper":
                        times.append(dbkeeper_copy(source, name, mode, args.strategy if mode == "template" else ""))
                    else:
                        times.append(raw_copy(pg, source, name, mode, args.strategy))
                    pg.drop_db(name)
                print(f"{mode} run {n + 1}: dbkeeper {ours[-1]:.2f} s, raw {raws[-1]:.2f} s "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
            results[mode] = (statistics.median(ours), statistics.median(raws))

        print()
        raw_names = {"template": f"createdb -T --strategy={args.strategy}",
                     "stream": "createdb + pg_dump -Fc | pg_restore"}
        for mode, (ours, raw) in results.items():
            ratio = ours / raw
            verdict = "ok" if ratio <= TARGETS[mode] else "over"
            print(f"{mode:8} median of {args.runs}: dbkeeper {ours:.2f} s, {raw_names[mode]} {raw:.2f} s, "
                  f"ratio {ratio:.3f} (target ≤ {TARGETS[mode]:.2f}: {verdict})")
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
