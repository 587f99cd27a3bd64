"""``pg_dump -Fc``: PostgreSQL's custom format, compressed by pg_dump itself
(gzip level 0-9 with PostgreSQL 15's pg_dump), restored with pg_restore."""

from ...messages import N_
from .base import BackupOptions, MadeBackup, Maker
from .pgdump import DumpTracker, Snapshot, check_pg_dump_for, run_dump, tool_version


class PgCustomMaker(Maker):
    format = "pg_custom"
    engine_format = "pg_custom"
    label = N_("PostgreSQL custom-format dump")
    target_kinds = ("postgresql",)
    extension = ".dump"

    def check(self, target, options: BackupOptions) -> None:
        super().check(target, options)
        check_pg_dump_for(target)

    def make(self, target, out, progress, options: BackupOptions) -> MadeBackup:
        path, _, version = tool_version("pg_dump")
        with Snapshot(target) as snapshot:
            tables = snapshot.tables()
            argv = [path, "-Fc", f"-Z{options.compress}", "--verbose", f"--snapshot={snapshot.id}", "--no-password"]
            run_dump(argv, target, out.write, progress, DumpTracker(tables), options.operation_id, snapshot=snapshot)
            return MadeBackup(
                tables={t.name: t.rows for t in tables}, server_version=snapshot.server_version,
                tool_version=f"pg_dump {version}", details={"compression": options.compress},
            )
