"""Making backups in the test process through the same steps as the CLI
(plan, record, run), and what the failure tests check: no row, no object."""

from dbkeeper.backups import service as backup_service
from dbkeeper.backups.models import Backup
from dbkeeper.backups.storage import get_storage
from dbkeeper.operations import runner


def make_backup(target, listener=None, **options):
    plan = backup_service.plan_backup(target, **options)
    op = backup_service.record(plan)
    runner.run(op.id, listener=listener)
    op.refresh_from_db()
    return op


def stored_files(storage=None) -> list:
    """Every file in the storage, the unfinished ones (.partial) included."""
    root = get_storage(storage).root
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def assert_nothing_stored(op):
    assert Backup.objects.count() == 0
    assert stored_files() == [], stored_files()
    assert "Nothing was stored." in op.error_message or "Nothing was stored." in [e.message for e in op.events.all()]


import pytest  # noqa: E402


@pytest.fixture
def own_storage(tmp_path, settings):
    """A data folder (and so a local backup storage) of the test's own."""
    settings.DBKEEPER = {**settings.DBKEEPER, "DATA_DIR": str(tmp_path / "data")}
    return tmp_path / "data" / "backups"


from dbkeeper.backups.makers import MadeBackup, Maker  # noqa: E402


class RawSqliteMaker(Maker):
    """A made-up maker for the registry test: the SQLite file as it is."""

    format = "sqlite_raw"
    engine_format = "sqlite"
    label = "SQLite file, as it is"
    target_kinds = ("sqlite",)
    extension = ".sqlite3"

    def make(self, target, out, progress, options):
        data = target.path.read_bytes()
        progress.set_total(len(data), "bytes")
        out.write(data)
        progress.advance(len(data))
        return MadeBackup(tables={"raw": 1}, server_version="SQLite", tool_version="cat")
