"""Backups into S3 (a real SeaweedFS server): multipart uploads that only
become an object when the backup is complete, restored and rescanned from
S3; S3 going down in the middle leaves no row and no object, and the
abandoned multipart upload is removed once S3 answers again."""

import pytest

from dbkeeper.backups.catalog import manifest_name, rescan
from dbkeeper.backups.models import Backup
from dbkeeper.backups.s3 import S3BackupStorage
from dbkeeper.backups.storage import get_storage
from dbkeeper.operations import runner, service, watchdog

from .backup_helpers import make_backup
from .builders import make_big_pg_source, make_pg_source
from .dbsnapshot import pg_snapshot
from .pgserver import conninfo
from .tcpproxy import TcpProxy

pytestmark = pytest.mark.django_db(transaction=True)
MiB = 1024 * 1024


def pending(storage):
    return storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])


def keys(storage):
    return sorted(o["Key"] for o in storage.client.list_objects_v2(Bucket=storage.bucket).get("Contents", []))


@pytest.fixture
def s3(s3_settings, tmp_path):
    s3_settings.DBKEEPER = {**s3_settings.DBKEEPER, "S3_PART_SIZE": 5 * MiB, "DATA_DIR": str(tmp_path / "data")}
    return get_storage()


def test_a_backup_to_s3_restores_and_is_rescanned(pg, pg_dbname, s3):
    source = pg_dbname + "_src"
    make_pg_source(pg, source, rows=200_000, value="s3")
    try:
        op = make_backup(pg.url(source), format="pg_custom", compress=0)
        assert op.status == "succeeded", op.error_message
        backup = Backup.objects.get()
        assert backup.storage == "s3" and backup.size > 2 * 5 * MiB  # several parts
        assert keys(s3) == sorted([backup.storage_name, manifest_name(backup.storage_name)])
        assert pending(s3) == []
        restore = service.create_restore("", pg.url(pg_dbname), backup_id=backup.id)
        runner.run(restore.id)
        restore.refresh_from_db()
        assert restore.status == "succeeded", restore.error_message
        assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, source))
        before = backup.as_dict()
        Backup.objects.all().delete()
        assert rescan()["added"] == [backup.id]
        assert Backup.objects.get().as_dict() == before
    finally:
        pg.drop_db(source)


def test_s3_down_in_the_middle_leaves_nothing_once_it_is_back(pg, s3_server, s3_bucket, settings, tmp_path):
    proxy = TcpProxy(int(s3_server.endpoint.rsplit(":", 1)[1])).start()
    through_proxy = s3_server.storage_settings(s3_bucket)
    through_proxy["OPTIONS"]["endpoint_url"] = f"http://127.0.0.1:{proxy.port}"
    settings.STORAGES = {**settings.STORAGES, "dbkeeper_backups": through_proxy}
    settings.DBKEEPER = {**settings.DBKEEPER, "S3_PART_SIZE": 5 * MiB, "DATA_DIR": str(tmp_path / "data")}
    storage = get_storage()
    source = "bk_s3_down_src"
    make_big_pg_source(pg, source, rows=600_000)
    cut = []

    def cut_when_parts_are_sent(op):
        if not cut and op.done > 0 and pending(direct):
            proxy.cut()
            cut.append(op.percent)

    direct = S3BackupStorage("s3", _django_storage(s3_server, s3_bucket))  # past the proxy
    try:
        op = make_backup(pg.url(source), format="pg_custom", compress=0, listener=cut_when_parts_are_sent)
        assert cut and op.status == "failed", op.error_message
        assert op.error_code == "storage_unreachable"
        assert op.error_message.startswith(f"The S3 storage at http://127.0.0.1:{proxy.port} cannot be reached: ")
        assert Backup.objects.count() == 0
        assert [k for k in keys(direct) if not k.startswith(".partial/")] == []
        # The upload could not be aborted while S3 was unreachable; the watchdog does it once S3 answers.
        assert pending(direct)
        proxy.restore()
        watchdog.sweep()
        assert pending(direct) == [] and keys(direct) == []
        op.refresh_from_db()
        assert "unswept" not in op.result
        assert "The unfinished backup file left in the storage was removed." in [e.message for e in op.events.all()]
    finally:
        proxy.cut()
        pg.drop_db(source)
    assert storage.name == "s3"


def _django_storage(s3_server, bucket):
    from storages.backends.s3 import S3Storage

    return S3Storage(**s3_server.storage_settings(bucket)["OPTIONS"])
