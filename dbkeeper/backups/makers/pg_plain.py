"""Plain SQL from ``pg_dump -Fp``, gzipped on the way to the storage: readable
with any text tool, restored with psql."""

import gzip

from ...messages import N_
from .base import BackupOptions, MadeBackup, Maker
from .pgdump import DumpTracker, Snapshot, check_pg_dump_for, run_dump, tool_version


class GzipSink:
    """gzip of what is written, into ``out`` (which only needs write())."""

    def __init__(self, out, level):
        self.gz = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=level, mtime=0)

    def write(self, chunk):
        self.gz.write(chunk)

    def close(self):
        self.gz.close()  # writes the trailer; does not close ``out``


class PgPlainMaker(Maker):
    format = "pg_plain"
    engine_format = "pg_plain"
    label = N_("PostgreSQL plain SQL dump")
    target_kinds = ("postgresql",)
    extension = ".sql.gz"
    # Extra pg_dump options (the Odoo maker adds --no-owner).
    pg_dump_options: tuple = ()

    def check(self, target, options: BackupOptions) -> None:
        super().check(target, options)
        check_pg_dump_for(target)

    def make(self, target, out, progress, options: BackupOptions) -> MadeBackup:
        with Snapshot(target) as snapshot:
            made = self.dump_sql(snapshot, target, out, progress, options, compress=True)
        return made

    def dump_sql(self, snapshot, target, out, progress, options, compress) -> MadeBackup:
        """pg_dump's plain SQL of the snapshot into ``out``, gzipped if ``compress``."""
        path, _, version = tool_version("pg_dump")
        tables = snapshot.tables()
        argv = [path, "-Fp", "--verbose", f"--snapshot={snapshot.id}", "--no-password", *self.pg_dump_options]
        sink = GzipSink(out, options.compress) if compress else out
        run_dump(argv, target, sink.write, progress, DumpTracker(tables), options.operation_id, snapshot=snapshot)
        if compress:
            sink.close()
        return MadeBackup(
            tables={t.name: t.rows for t in tables}, server_version=snapshot.server_version,
            tool_version=f"pg_dump {version}", details={"compression": options.compress if compress else None},
        )
