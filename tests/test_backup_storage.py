"""The backup storage API on a local folder and on a real S3 server
(SeaweedFS): nothing is visible before commit, an abort or a dead writer
leaves no file, no object and no pending multipart upload, reads stream byte
ranges, and S3 failures are sentences."""

import hashlib
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from dbkeeper.backups import store
from dbkeeper.backups.storage import PARTIAL_DIR, LocalStorage, StorageError, get_storage

from .builders import make_sqlite
from .live import ROOT
from .pgserver import free_port
from .s3server import ACCESS_KEY, SECRET_KEY

MiB = 1024 * 1024


def chunks_of(data, size=300_000):
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.fixture
def local(settings, tmp_path):
    settings.DBKEEPER = {**settings.DBKEEPER, "DATA_DIR": str(tmp_path / "data")}
    return get_storage("local")


@pytest.fixture
def s3(s3_settings):
    # The smallest part S3 allows, so that a dozen MiB is several parts.
    s3_settings.DBKEEPER = {**s3_settings.DBKEEPER, "S3_PART_SIZE": 5 * MiB}
    return get_storage()


def pending(storage):
    return storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])


def all_keys(storage):
    return [o["Key"] for o in storage.client.list_objects_v2(Bucket=storage.bucket).get("Contents", [])]


# -- local folder ---------------------------------------------------------------------------

def test_local_writer_commit_makes_the_file_visible_with_its_size_and_sha256(local):
    data = os.urandom(3 * MiB + 17)
    with local.writer("2026/11/bk_a.dump", "op-1") as out:
        for chunk in chunks_of(data):
            out.write(chunk)
        assert list(local.list_names()) == []  # nothing before commit
        assert [p.name for p in (local.root / PARTIAL_DIR).iterdir()][0].startswith("op-1.")
        out.commit()
    assert (out.size, out.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert list(local.list_names()) == ["2026/11/bk_a.dump"]
    assert (local.root / "2026/11/bk_a.dump").read_bytes() == data
    assert local.size("2026/11/bk_a.dump") == len(data) and local.exists("2026/11/bk_a.dump")
    assert list((local.root / PARTIAL_DIR).iterdir()) == []
    with local.local_copy("2026/11/bk_a.dump") as path:
        assert path == local.root / "2026/11/bk_a.dump"  # the file itself, no copy


def test_local_writer_left_without_commit_leaves_nothing(local):
    with pytest.raises(RuntimeError):
        with local.writer("2026/11/bk_b.dump", "op-2") as out:
            out.write(b"x" * MiB)
            raise RuntimeError("pg_dump failed")
    assert list(local.list_names()) == [] and list((local.root / PARTIAL_DIR).iterdir()) == []
    assert not local.exists("2026/11/bk_b.dump")


def test_local_sweep_removes_only_the_operations_temporary_files(local):
    dead = local.writer("a.dump", "op-dead")
    dead.write(b"half")
    alive = local.writer("b.dump", "op-alive")
    alive.write(b"half")
    assert local.sweep_unfinished("op-dead") == 1
    assert [p.name.split(".")[0] for p in (local.root / PARTIAL_DIR).iterdir()] == ["op-alive"]
    alive.abort()


def test_local_ranges_and_names(local):
    data = bytes(range(256)) * 5000
    with local.writer("x/y.bin", "op") as out:
        out.write(data)
        out.commit()
    assert b"".join(local.open_stream("x/y.bin")) == data
    assert b"".join(local.open_stream("x/y.bin", 1000, 1999)) == data[1000:2000]
    assert b"".join(local.open_stream("x/y.bin", 1_000_000)) == data[1_000_000:]
    with pytest.raises(StorageError, match="outside the stored file"):
        local.open_stream("x/y.bin", len(data) + 1)
    for bad in ("../escape", "/etc/passwd", f"{PARTIAL_DIR}/x", ""):
        with pytest.raises(StorageError, match="is not a valid name for a stored backup"):
            local.writer(bad, "op")
    with pytest.raises(StorageError, match="is missing from the local storage"):
        local.size("x/none.bin")
    with local.writer("x/y.bin", "op") as out, pytest.raises(StorageError, match="already exists"):
        out.write(b"other")
        out.commit()
    assert b"".join(local.open_stream("x/y.bin")) == data  # the first one stays


def test_an_unknown_storage_name_is_a_sentence(settings):
    with pytest.raises(StorageError, match='There is no backup storage called "tape"'):
        get_storage("tape")
    assert isinstance(get_storage(), LocalStorage)


# -- S3 -------------------------------------------------------------------------------------

def test_s3_writer_commit_above_the_multipart_threshold(s3):
    data = os.urandom(12 * MiB + 5)  # three parts of 5 MiB, the last one short
    with s3.writer("2026/11/bk_s3.dump", "op-s3") as out:
        for chunk in chunks_of(data, 1 * MiB):
            out.write(chunk)
        assert len(pending(s3)) == 1 and not s3.exists("2026/11/bk_s3.dump")
        out.commit()
    assert (out.size, out.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    head = s3.client.head_object(Bucket=s3.bucket, Key="2026/11/bk_s3.dump")
    assert head["ContentLength"] == len(data) and head["ETag"].strip('"').endswith("-3")
    assert pending(s3) == [] and all_keys(s3) == ["2026/11/bk_s3.dump"]  # no marker left
    assert list(s3.list_names()) == ["2026/11/bk_s3.dump"]
    assert s3.size("2026/11/bk_s3.dump") == len(data)
    assert b"".join(s3.open_stream("2026/11/bk_s3.dump")) == data
    assert b"".join(s3.open_stream("2026/11/bk_s3.dump", 5 * MiB - 3, 5 * MiB + 3)) == data[5 * MiB - 3:5 * MiB + 4]
    assert b"".join(s3.open_stream("2026/11/bk_s3.dump", len(data) - 10)) == data[-10:]
    with s3.local_copy("2026/11/bk_s3.dump") as path:
        assert path.read_bytes() == data
    assert not path.exists()
    s3.delete("2026/11/bk_s3.dump")
    assert not s3.exists("2026/11/bk_s3.dump")


def test_s3_writer_left_without_commit_leaves_no_object_and_no_pending_upload(s3):
    with pytest.raises(RuntimeError):
        with s3.writer("2026/11/bk_abort.dump", "op-abort") as out:
            for chunk in chunks_of(os.urandom(11 * MiB), MiB):
                out.write(chunk)
            assert len(pending(s3)) == 1
            raise RuntimeError("cancelled")
    assert pending(s3) == [] and all_keys(s3) == []


def test_s3_sweep_aborts_the_upload_of_a_killed_writer(s3_server, s3_bucket, tmp_path):
    """A process writing a backup is SIGKILLed after sending parts; the sweep
    (as the watchdog runs it) aborts its multipart upload."""
    env = {**os.environ, **s3_server.env(s3_bucket), "DJANGO_SETTINGS_MODULE": "dbkeeper.site.settings",
           "DBKEEPER_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    code = textwrap.dedent("""
        import django, os, sys, time
        django.setup()
        from dbkeeper.backups.storage import get_storage
        out = get_storage().writer("2026/11/bk_killed.dump", "op-killed")
        for _ in range(12):
            out.write(os.urandom(1024 * 1024))
        print("parts sent", flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "parts sent"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    client = s3_server.client()
    assert len(client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])) == 1
    swept = subprocess.run([sys.executable, "-c", "import django; django.setup()\n"
                            "from dbkeeper.backups.storage import get_storage\n"
                            "print(get_storage().sweep_unfinished('op-killed'))"],
                           env=env, capture_output=True, text=True, check=True)
    assert swept.stdout.strip() == "1"
    assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0


def test_wrong_s3_credentials_are_a_sentence(s3_settings, s3_server, s3_bucket):
    s3_settings.STORAGES = {**s3_settings.STORAGES,
                            "dbkeeper_backups": s3_server.storage_settings(s3_bucket, secret_key="not-the-secret")}
    storage = get_storage()
    with pytest.raises(StorageError) as caught:
        storage.writer("2026/11/x.dump", "op")
    assert caught.value.code == "storage_credentials"
    assert caught.value.message.startswith(f"The S3 storage at {s3_server.endpoint} refused dbkeeper's credentials")
    assert f"bucket {s3_bucket}" in caught.value.message
    s3_settings.STORAGES = {**s3_settings.STORAGES,
                            "dbkeeper_backups": s3_server.storage_settings(s3_bucket, access_key="nobody")}
    with pytest.raises(StorageError, match="refused dbkeeper's credentials"):
        get_storage().exists("2026/11/x.dump")


def test_s3_down_is_a_sentence(settings):
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings.STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "dbkeeper_backups": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
            "bucket_name": "backups", "endpoint_url": endpoint, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
            "region_name": "us-east-1"}},
    }
    storage = get_storage()
    assert storage.name == "s3"
    with pytest.raises(StorageError) as caught:
        storage.writer("2026/11/x.dump", "op")
    assert caught.value.code == "storage_unreachable"
    assert caught.value.message.startswith(f"The S3 storage at {endpoint} cannot be reached: ")
    with pytest.raises(StorageError, match="cannot be reached"):
        list(storage.open_stream("2026/11/x.dump"))


@pytest.mark.django_db(transaction=True)
def test_an_upload_stored_with_s3_configured_goes_to_s3_and_reads_back(s3, tmp_path):
    source = make_sqlite(tmp_path / "notes.sqlite3", rows=50)
    backup = store.add_file(source, "notes.sqlite3", move=False)
    assert backup.storage == "s3" and s3.exists(backup.storage_name)
    assert backup.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    with store.local_path(backup) as path:
        assert path.read_bytes() == source.read_bytes()
    assert not path.exists()
    store.delete(backup)
    assert not s3.exists(backup.storage_name)


def test_any_other_django_storage_works_through_save_and_open(settings, tmp_path):
    settings.DBKEEPER = {**settings.DBKEEPER, "DATA_DIR": str(tmp_path / "data")}
    settings.STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "dbkeeper_backups": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    storage = get_storage()
    assert (storage.name, storage.kind) == ("django", "django")
    data = os.urandom(2 * MiB)
    with storage.writer("2026/11/m.dump", "op-m") as out:
        out.write(data)
        out.commit()
    assert list(storage.list_names()) == ["2026/11/m.dump"] and storage.size("2026/11/m.dump") == len(data)
    assert b"".join(storage.open_stream("2026/11/m.dump", 10, 99)) == data[10:100]
    with pytest.raises(RuntimeError):
        with storage.writer("2026/11/n.dump", "op-n") as out:
            out.write(b"half")
            raise RuntimeError("failed")
    assert list(storage.list_names()) == ["2026/11/m.dump"]
    assert list((tmp_path / "data" / "tmp").glob("*.part")) == []
    storage.delete("2026/11/m.dump")
    assert not storage.exists("2026/11/m.dump")


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_sweep_stale_removes_old_unfinished_writes_of_any_operation(kind, request):
    storage = request.getfixturevalue(kind)
    out = storage.writer("2026/11/forgotten.dump", "store-bk_unknown")
    out.write(os.urandom(6 * MiB))
    assert storage.sweep_stale(3600) == 0  # young: maybe still being written
    assert storage.sweep_stale(0) == 1
    if kind == "s3":
        assert pending(storage) == [] and all_keys(storage) == []
    else:
        assert list((storage.root / PARTIAL_DIR).iterdir()) == []
