"""The makers' registry: DBKEEPER["MAKERS"] adds, replaces or removes a way
of making backups, as DBKEEPER["ENGINES"] does for restoring them."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from dbkeeper.backups import makers
from dbkeeper.backups.models import Backup
from dbkeeper.errors import DbkeeperError
from dbkeeper.operations import runner, service

from .backup_helpers import make_backup, own_storage  # noqa: F401 (fixture)
from .builders import make_sqlite
from .dbsnapshot import sqlite_snapshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_storage")]


def test_defaults_cover_every_format_and_kind():
    assert [m.format for m in makers.all_makers()] == ["pg_custom", "pg_plain", "sqlite", "fixtures", "odoo"]
    from dbkeeper import engines

    # Every maker writes what a registered engine restores.
    assert {m.engine_format for m in makers.all_makers()} <= {e.format for e in engines.all_engines()}


def test_a_project_adds_and_removes_makers(settings, tmp_path):
    settings.DBKEEPER = {**settings.DBKEEPER,
                         "MAKERS": {"sqlite_raw": "tests.backup_helpers.RawSqliteMaker", "fixtures": None}}
    assert [m.format for m in makers.all_makers()] == ["pg_custom", "pg_plain", "sqlite", "odoo", "sqlite_raw"]
    with pytest.raises(DbkeeperError) as err:
        makers.by_format("fixtures")
    assert err.value.code == "bad_format" and "sqlite_raw" in err.value.message
    live = make_sqlite(tmp_path / "app.db", rows=30)
    op = make_backup(f"sqlite:///{live}", format="sqlite_raw")
    assert op.status == "succeeded", op.error_message
    backup = Backup.objects.get()
    assert backup.format == "sqlite" and backup.storage_name.endswith(".sqlite3") and backup.info["maker"] == "sqlite_raw"
    copy = tmp_path / "copy.db"
    restore = service.create_restore("", f"sqlite:///{copy}", backup_id=backup.id)
    runner.run(restore.id)
    assert sqlite_snapshot(copy) == sqlite_snapshot(live)


@pytest.mark.parametrize("path, says", [
    ("tests.backup_helpers.Nothing", "cannot be imported"),
    ("tests.backup_helpers.make_backup", "not a dbkeeper Maker"),
])
def test_a_bad_entry_says_what_is_wrong(settings, path, says):
    settings.DBKEEPER = {**settings.DBKEEPER, "MAKERS": {"mine": path}}
    with pytest.raises(ImproperlyConfigured) as err:
        makers.all_makers()
    assert says in str(err.value)
    settings.DBKEEPER = {**settings.DBKEEPER, "MAKERS": {"mine": "tests.backup_helpers.RawSqliteMaker"}}
    with pytest.raises(ImproperlyConfigured) as err:
        makers.all_makers()
    assert "whose format is 'sqlite_raw'" in str(err.value)
