"""Restores and verifications of backups stored in S3 (a real SeaweedFS
server) read the stored object as a stream: serial pg_restore and psql are
fed from boto3's streaming body, an encrypted backup is decrypted on the way,
and no copy of the backup appears on disk; the worker's memory stays flat.
Parallel pg_restore, which seeks, still gets a temporary local copy, removed
afterwards. A ciphertext cut short fails the restore before the swap."""

import logging
import os
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest

from dbkeeper.backups.encryption import generate_identity
from dbkeeper.backups.models import Backup
from dbkeeper.backups.storage import get_storage
from dbkeeper.operations import runner, service
from dbkeeper.backups.verification import start_verify

from .backup_helpers import make_backup
from .builders import make_big_pg_source, make_pg_source
from .dbsnapshot import pg_snapshot
from .pgserver import conninfo

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]
MiB = 1024 * 1024


class DiskAndMemoryWatch:
    """Samples, while a restore runs, the largest file under the watched
    folders and this process's resident memory."""

    def __init__(self, folders):
        self.folders = [Path(f) for f in folders]
        self.largest = 0
        self.largest_name = ""
        self.rss_start = psutil.Process().memory_info().rss
        self.rss_peak = self.rss_start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        process = psutil.Process()
        while not self._stop.is_set():
            self.rss_peak = max(self.rss_peak, process.memory_info().rss)
            for folder in self.folders:
                for dirpath, _, filenames in os.walk(folder):
                    for name in filenames:
                        try:
                            size = os.path.getsize(os.path.join(dirpath, name))
                        except OSError:
                            continue
                        if size > self.largest:
                            self.largest, self.largest_name = size, os.path.join(dirpath, name)
            time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def rss_growth(self):
        return self.rss_peak - self.rss_start


@pytest.fixture
def s3(s3_settings, tmp_path):
    s3_settings.DBKEEPER = {**s3_settings.DBKEEPER, "S3_PART_SIZE": 5 * MiB, "DATA_DIR": str(tmp_path / "data")}
    return get_storage()


@pytest.fixture
def big_source(pg, pg_dbname):
    """A database whose uncompressed dump (about 40 MiB) is larger than the memory a streamed restore may use."""
    name = pg_dbname + "_src"
    make_big_pg_source(pg, name, rows=300_000)
    yield name
    pg.drop_db(name)


@pytest.fixture
def watched(tmp_path, monkeypatch):
    """The folders a copy of the backup could be written to: the data folder
    (its tmp/ holds the copies of local_copy) and, for this test, the
    system's temporary folder."""
    system_tmp = tmp_path / "systmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    return [tmp_path]


def restore_stored(backup, url):
    op = service.create_restore("", url, backup_id=backup.id)
    runner.run(op.id)
    op.refresh_from_db()
    return op


def streamed_lines(caplog):
    return [r.getMessage() for r in caplog.records if "as a stream" in r.getMessage()]


@pytest.mark.parametrize("fmt", ["pg_custom", "pg_plain"])
def test_a_restore_from_s3_streams_with_no_copy_on_disk_and_flat_memory(pg, pg_dbname, s3, big_source, watched,
                                                                       caplog, fmt):
    op = make_backup(pg.url(big_source), format=fmt, compress=0)
    assert op.status == "succeeded", op.error_message
    backup = Backup.objects.get()
    assert backup.storage == "s3" and backup.size > 20 * MiB
    with caplog.at_level(logging.INFO), DiskAndMemoryWatch(watched) as watch:
        restore = restore_stored(backup, pg.url(pg_dbname))
    assert restore.status == "succeeded", restore.error_message
    assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, big_source))
    # No file the size of the backup (or half of it) was written anywhere dbkeeper or tempfile writes.
    assert watch.largest < backup.size // 2, (watch.largest_name, watch.largest)
    assert streamed_lines(caplog), "the restore did not read the backup as a stream"
    # Memory flat: far less than the backup, which never is in memory as a whole.
    assert watch.rss_growth < backup.size // 2, watch.rss_growth


def test_parallel_pg_restore_gets_a_local_copy_removed_afterwards(pg, pg_dbname, s3, tmp_path, caplog, settings):
    source = pg_dbname + "_src"
    make_pg_source(pg, source, rows=20_000, value="jobs")
    try:
        op = make_backup(pg.url(source), format="pg_custom", compress=0)
        assert op.status == "succeeded", op.error_message
        backup = Backup.objects.get()
        settings.DBKEEPER = {**settings.DBKEEPER, "PG_RESTORE_JOBS": 2}
        with caplog.at_level(logging.INFO), DiskAndMemoryWatch([tmp_path / "data"]) as watch:
            restore = restore_stored(backup, pg.url(pg_dbname))
        assert restore.status == "succeeded", restore.error_message
        assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, source))
        assert watch.largest == backup.size  # the local copy pg_restore --jobs seeks in
        assert not streamed_lines(caplog)
        left = [p for p in (tmp_path / "data" / "tmp").rglob("*") if p.is_file()]
        assert left == []
    finally:
        pg.drop_db(source)


@pytest.fixture
def encrypted_s3(s3, s3_settings, tmp_path):
    identity = tmp_path / "keys" / "key.txt"
    identity.parent.mkdir()
    public = generate_identity(identity)
    s3_settings.DBKEEPER = {**s3_settings.DBKEEPER, "AGE_RECIPIENTS": [public], "AGE_IDENTITY_FILE": str(identity)}
    return s3


@pytest.mark.parametrize("fmt", ["pg_custom", "pg_plain"])
def test_an_encrypted_backup_in_s3_is_decrypted_while_it_streams(pg, pg_dbname, encrypted_s3, watched, caplog, fmt):
    source = pg_dbname + "_src"
    make_pg_source(pg, source, rows=50_000, value="sealed")
    try:
        op = make_backup(pg.url(source), format=fmt, compress=0)
        assert op.status == "succeeded", op.error_message
        backup = Backup.objects.get()
        assert backup.encrypted and backup.storage == "s3"
        with caplog.at_level(logging.INFO), DiskAndMemoryWatch(watched) as watch:
            restore = restore_stored(backup, pg.url(pg_dbname))
        assert restore.status == "succeeded", restore.error_message
        assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, source))
        assert watch.largest < backup.size // 2, (watch.largest_name, watch.largest)
        assert streamed_lines(caplog)
    finally:
        pg.drop_db(source)


@pytest.mark.parametrize("fmt", ["pg_custom", "pg_plain"])
def test_a_ciphertext_cut_short_in_s3_fails_before_the_swap(pg, pg_dbname, encrypted_s3, fmt):
    source = pg_dbname + "_src"
    make_pg_source(pg, source, rows=50_000, value="sealed")
    make_pg_source(pg, pg_dbname, rows=10, value="live")
    before = pg_snapshot(conninfo(pg, pg_dbname))
    try:
        op = make_backup(pg.url(source), format=fmt, compress=0)
        assert op.status == "succeeded", op.error_message
        backup = Backup.objects.get()
        storage = encrypted_s3
        key = storage.key(backup.storage_name)
        whole = storage.client.get_object(Bucket=storage.bucket, Key=key)["Body"].read()
        # Cut at a chunk boundary (64 KiB of plaintext + 16 bytes of tag): every chunk left authenticates.
        header_end = whole.index(b"\n---") + whole[whole.index(b"\n---") + 1:].index(b"\n") + 2 + 16
        cut = header_end + 3 * (64 * 1024 + 16)
        assert cut < len(whole) // 2
        storage.client.put_object(Bucket=storage.bucket, Key=key, Body=whole[:cut])
        restore = restore_stored(backup, pg.url(pg_dbname))
        assert restore.status == "failed"
        assert "The encrypted backup is damaged, truncated or was altered" in restore.error_message
        assert pg_snapshot(conninfo(pg, pg_dbname)) == before
        assert restore.scratch_name == ""
    finally:
        pg.drop_db(source)


def test_a_verification_of_a_backup_in_s3_streams_it(pg, pg_dbname, s3, big_source, watched, caplog):
    op = make_backup(pg.url(big_source), format="pg_custom", compress=0)
    assert op.status == "succeeded", op.error_message
    backup = Backup.objects.get()
    started = start_verify(backup.id)
    with caplog.at_level(logging.INFO), DiskAndMemoryWatch(watched) as watch:
        runner.run(started.operation.id)
    verify = started.operation
    verify.refresh_from_db()
    assert verify.status == "succeeded", verify.error_message
    backup.refresh_from_db()
    assert backup.verification_outcome == "passed"
    assert watch.largest < backup.size // 2, (watch.largest_name, watch.largest)
    assert streamed_lines(caplog)
