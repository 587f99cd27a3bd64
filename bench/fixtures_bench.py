"""Fixture restore benchmark: dbkeeper against ``manage.py loaddata``.

    .venv/bin/python bench/fixtures_bench.py [--objects 1000000]

Starts its own throwaway PostgreSQL server, fills the example project's
database with ``seed_shop --objects N`` (users, categories, tags, products with
tags, digital products, orders, order lines, notes on products and orders),
writes it as one dumpdata-style JSON fixture (``manage.py dbkeeper backup``),
then loads that same file into a fresh database twice:

- ``manage.py loaddata FILE`` into a database that ``manage.py migrate`` made
  just before (the migrate is timed apart and not counted);
- ``manage.py dbkeeper restore FILE --target alias:default --yes`` into a
  database that does not exist yet (counted: start-up, reading the file twice,
  creating the scratch database, migrating it, loading, checking, swapping).

Prints both times and peak memories (each process alone, from wait4), their
ratios against the targets (time <= 0.33, memory <= 0.2), and checks that
both databases hold the same rows.
"""

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.hostproject import EXAMPLE, HostProject  # noqa: E402
from tests.pgserver import PgServer  # noqa: E402

TARGET_TIME_RATIO = 0.33
TARGET_MEMORY_RATIO = 0.2


def measured(project, *args):
    """Run ``manage.py ARGS``; wall seconds and the process's peak memory (MB)."""
    log = project.logs / "bench.log"
    with open(log, "ab") as out:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(EXAMPLE / "manage.py"), *map(str, args)], env=project.env,
                                cwd=EXAMPLE, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"manage.py {' '.join(map(str, args))} failed:\n{log.read_text(errors='replace')[-3000:]}")
    return elapsed, usage.ru_maxrss / 1024


def table_digests(server, dbname):
    """Rows per table and a digest of their content (many-to-many rows without
    their own id, which no fixture carries)."""
    digests = {}
    with server.connect(dbname) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'django_migrations' ORDER BY 1")]
        for table in tables:
            columns = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position", (table,))]
            if table.endswith(("_tags", "_groups", "_permissions", "_user_permissions")) and columns[0] == "id":
                columns = columns[1:]
            row = ", ".join(f'"{c}"' for c in columns)
            digests[table] = conn.execute(
                f'SELECT count(*), md5(coalesce(string_agg(({row})::text, \'|\' ORDER BY ({row})::text), \'\')) FROM "{table}"'
            ).fetchone()
    return digests


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    args = parser.parse_args()

    server = PgServer().start()
    work = Path(tempfile.mkdtemp(prefix="dbkeeper-fixtures-bench-"))
    try:
        source = HostProject(work / "data", server.url("source"))
        server.create_db("source")
        source.manage("migrate", "-v0")
        source.manage("dbkeeper", "migrate")  # a deployed project has dbkeeper's tables already
        print(f"seeding about {args.objects:,} objects ...", flush=True)
        start = time.perf_counter()
        source.manage("seed_shop", "--objects", args.objects, timeout=3600)
        print(f"  seeded in {time.perf_counter() - start:.1f} s", flush=True)
        fixture = work / "shop.json"
        backup_seconds, backup_mb = measured(source, "dbkeeper", "backup", fixture)
        with open(fixture, "rb") as fh:
            count = sum(chunk.count(b'{"model": ') for chunk in iter(lambda: fh.read(1 << 20), b""))
        size_mb = fixture.stat().st_size / 1e6
        print(f"  fixture: {count:,} objects, {size_mb:.0f} MB, written by `dbkeeper backup` in {backup_seconds:.1f} s "
              f"(peak {backup_mb:.0f} MB)", flush=True)
        server.drop_db("source")

        ours = source.using(server.url("with_dbkeeper"))
        print("dbkeeper restore ...", flush=True)
        dk_seconds, dk_mb = measured(ours, "dbkeeper", "restore", fixture, "--target", "alias:default", "--yes")
        with sqlite3.connect(source.data_dir / "dbkeeper.sqlite3") as conn:
            started, finished = conn.execute(
                "SELECT started_at, finished_at FROM dbkeeper_operation ORDER BY created_at DESC LIMIT 1").fetchone()
        operation_seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
        print(f"  {dk_seconds:.1f} s (operation {operation_seconds:.1f} s), peak {dk_mb:.0f} MB", flush=True)

        theirs = source.using(server.url("with_loaddata"))
        server.create_db("with_loaddata")
        migrate_seconds, _ = measured(theirs, "migrate", "-v0")
        print(f"loaddata (after migrate: {migrate_seconds:.1f} s) ...", flush=True)
        ld_seconds, ld_mb = measured(theirs, "loaddata", fixture)
        print(f"  {ld_seconds:.1f} s, peak {ld_mb:.0f} MB", flush=True)

        same = table_digests(server, "with_dbkeeper") == table_digests(server, "with_loaddata")
        time_ratio, memory_ratio = dk_seconds / ld_seconds, dk_mb / ld_mb
        print()
        print(f"fixture of {count:,} objects ({size_mb:.0f} MB of JSON), example project, PostgreSQL")
        print(f"{'':<22}{'seconds':>9}{'peak MB':>9}")
        print(f"{'manage.py loaddata':<22}{ld_seconds:>9.1f}{ld_mb:>9.0f}   (+ {migrate_seconds:.1f} s of migrate before it, not counted)")
        print(f"{'dbkeeper restore':<22}{dk_seconds:>9.1f}{dk_mb:>9.0f}   (whole command; the operation itself {operation_seconds:.1f} s)")
        print(f"time ratio   {time_ratio:.3f}  (target <= {TARGET_TIME_RATIO})")
        print(f"memory ratio {memory_ratio:.3f}  (target <= {TARGET_MEMORY_RATIO})")
        print(f"same rows in both databases: {'yes' if same else 'NO'}")
        ok = same and time_ratio <= TARGET_TIME_RATIO and memory_ratio <= TARGET_MEMORY_RATIO
        print("result:", "within targets" if ok else "OUTSIDE TARGETS")
        return 0 if ok else 1
    finally:
        server.stop()
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    sys.exit(main())
