"""Making backups: each format backed up from a real database and restored
into a new one with the same data; exact row counts in the catalog; the
manifest beside each backup and the catalog rebuilt from it."""

import gzip
import hashlib
import json
import zipfile

import pytest

from dbkeeper.backups.models import Backup
from dbkeeper.backups.storage import get_storage
from dbkeeper.operations import runner, service

from .backup_helpers import make_backup, stored_files
from .builders import make_pg_source, make_sqlite
from .dbsnapshot import pg_snapshot, sqlite_snapshot
from .pgserver import conninfo

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def source(pg, pg_dbname):
    name = pg_dbname + "_src"
    make_pg_source(pg, name, rows=1200, value="src")
    yield name
    pg.drop_db(name)


def restore_backup(pg, backup_id, dbname):
    op = service.create_restore("", pg.url(dbname), backup_id=backup_id)
    runner.run(op.id)
    op.refresh_from_db()
    assert op.status == "succeeded", op.error_message
    return op


@pytest.mark.parametrize("fmt", ["pg_custom", "pg_plain"])
def test_postgresql_backup_restores_to_the_same_data(pg, pg_dbname, source, fmt):
    op = make_backup(pg.url(source), format=fmt)
    assert op.status == "succeeded", op.error_message
    assert op.kind == "backup" and op.percent == 100 and op.lock_key is None
    backup = Backup.objects.get()
    assert backup.id == op.result["backup_id"] == op.backup_id
    stored = get_storage(backup.storage).path(backup.storage_name)
    assert backup.size == stored.stat().st_size
    assert backup.sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert backup.format == fmt and backup.source == "backup" and backup.origin == "manual"
    assert backup.tables == {"public.items": 1200, "sales.orders": 120}
    assert backup.database == source and backup.tool_version.startswith("pg_dump 15")
    assert backup.server_version.startswith("15") and backup.duration_seconds >= 0
    if fmt == "pg_plain":
        assert gzip.decompress(stored.read_bytes()).startswith(b"--\n-- PostgreSQL database dump")
    restore_backup(pg, backup.id, pg_dbname)
    assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, source))
