"""Django fixtures (dumpdata JSON, gzipped) of a database alias of this
project, written by streaming (engines/fixtures_dump.py): restorable by
dbkeeper into PostgreSQL or SQLite, and by ``manage.py loaddata``."""

from ... import targets
from ...errors import DbkeeperError
from ...messages import N_
from .base import BackupOptions, MadeBackup, Maker


def alias_of(target) -> str:
    """The Django alias a target was given as (directly, or by a configured
    name that stands for ``alias:NAME``); "" when it is a URL."""
    spec = target.spec
    if not spec.startswith("alias:") and "://" not in spec:
        spec = targets.configured_targets().get(spec, "")
    return spec[len("alias:"):] if spec.startswith("alias:") else ""


class FixturesMaker(Maker):
    format = "fixtures"
    engine_format = "django_fixtures"
    label = N_("Django fixture (dumpdata JSON)")
    target_kinds = ("postgresql", "sqlite")
    extension = ".json.gz"

    def check(self, target, options: BackupOptions) -> None:
        super().check(target, options)
        if not alias_of(target):
            raise DbkeeperError(
                N_("A fixture backup reads a database of this project: give its alias, e.g. %(example)s."),
                code="fixtures_need_alias", params={"example": "alias:default"})

    def make(self, target, out, progress, options: BackupOptions) -> MadeBackup:
        from django.db import connections, transaction

        from ...engines.fixtures_dump import stream_fixture

        alias = alias_of(target)
        counts = {}

        def on_progress(done, total):
            progress.set_total(total or 1, "objects")
            progress.advance(done)

        # One transaction: the counts and the objects are of the same moment
        # (REPEATABLE READ on PostgreSQL; SQLite's is serializable already).
        with transaction.atomic(using=alias):
            if connections[alias].vendor == "postgresql":
                connections[alias].cursor().execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            stream_fixture(alias, out, gzipped=True, on_progress=on_progress, counts=counts, level=options.compress)
        server = connections[alias].vendor
        return MadeBackup(tables=counts, server_version=server, tool_version="dbkeeper dumpdata",
                          details={"alias": alias})
