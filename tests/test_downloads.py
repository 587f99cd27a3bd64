"""Downloading a stored backup: byte-identical full and resumed downloads
from local storage and from S3 (SeaweedFS), ranges, If-Range, refusals in
JSON, one log line per download, curl -C - against the real server, and the
web worker's memory flat while it streams 1 GiB."""

import hashlib
import logging
import os
import subprocess
import threading
import time

import psutil
import pytest
import requests
from django.test import Client

from dbkeeper.access.api_tokens import create_token
from dbkeeper.backups.models import Backup
from dbkeeper.backups.storage import get_storage

from .conftest import UPLOADER, UPLOADER_PASSWORD
from .live import start_live_server

pytestmark = pytest.mark.django_db(transaction=True)
MiB = 1024 * 1024


def put_backup(storage, data, name="shop.dump", **fields):
    """A stored file and its catalog row."""
    storage_name = f"2026/11/{hashlib.sha1(data).hexdigest()[:12]}.dump"
    with storage.writer(storage_name, "op-test") as out:
        for i in range(0, len(data), MiB):
            out.write(data[i:i + MiB])
        out.commit()
    return Backup.objects.create(name=name, storage=storage.name, storage_name=storage_name, size=out.size,
                                 sha256=out.sha256, format="pg_custom", **fields)


@pytest.fixture
def data():
    return os.urandom(6 * MiB + 123)


@pytest.fixture(params=["local", "s3"])
def stored(request, data, settings, tmp_path):
    """The same bytes stored on local storage and, in a second run, on S3."""
    settings.DBKEEPER = {**settings.DBKEEPER, "DATA_DIR": str(tmp_path / "data")}
    if request.param == "s3":
        request.getfixturevalue("s3_settings")
    storage = get_storage()
    assert storage.kind == request.param
    return put_backup(storage, data)


@pytest.fixture
def staff(alice):
    client = Client()
    client.force_login(alice)
    return client


def body(response):
    return b"".join(response.streaming_content)


def url(backup):
    return f"/api/backups/{backup.id}/download/"


def test_full_download_is_the_stored_file(staff, stored, data):
    response = staff.get(url(stored))
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(data))
    assert response["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Disposition"] == 'attachment; filename="shop.dump"'
    assert body(response) == data


def test_a_broken_download_resumes_byte_identical(staff, stored, data):
    got = bytearray(data[: 2 * MiB + 7])  # what arrived before the connection broke
    response = staff.get(url(stored), HTTP_RANGE=f"bytes={len(got)}-", HTTP_IF_RANGE=f'"{stored.sha256}"')
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {len(got)}-{len(data) - 1}/{len(data)}"
    assert response["Content-Length"] == str(len(data) - len(got))
    got += body(response)
    assert bytes(got) == data


def test_ranges(staff, stored, data):
    middle = staff.get(url(stored), HTTP_RANGE="bytes=100-199")
    assert (middle.status_code, middle["Content-Range"], body(middle)) == (206, f"bytes 100-199/{len(data)}", data[100:200])
    tail = staff.get(url(stored), HTTP_RANGE="bytes=-500")
    assert tail.status_code == 206 and body(tail) == data[-500:]
    past_end = staff.get(url(stored), HTTP_RANGE=f"bytes={len(data) - 10}-{len(data) + 1000}")
    assert past_end.status_code == 206 and body(past_end) == data[-10:]
    outside = staff.get(url(stored), HTTP_RANGE=f"bytes={len(data)}-")
    assert outside.status_code == 416 and outside["Content-Range"] == f"bytes */{len(data)}"
    assert outside.json()["error"]["code"] == "range_not_satisfiable"
    # Several ranges, or nonsense: the whole file (HTTP allows ignoring Range).
    for header in ("bytes=0-1,5-6", "items=1-2", "bytes=9-3"):
        whole = staff.get(url(stored), HTTP_RANGE=header)
        assert whole.status_code == 200 and body(whole) == data


def test_if_range_with_another_etag_sends_the_whole_file(staff, stored, data):
    response = staff.get(url(stored), HTTP_RANGE="bytes=1000-", HTTP_IF_RANGE='"' + "0" * 64 + '"')
    assert response.status_code == 200 and "Content-Range" not in response
    assert body(response) == data


def test_head_answers_the_headers_only(staff, stored, data):
    response = staff.head(url(stored))
    assert response.status_code == 200 and response["Content-Length"] == str(len(data))
    assert response.content == b""


def test_refusals_are_json(django_user_model, stored):
    anonymous = Client().get(url(stored))
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "session_expired"
    clerk = django_user_model.objects.create_user("clerk", password="pw-clerk")
    client = Client()
    client.force_login(clerk)
    refused = client.get(url(stored))
    assert refused.status_code == 403 and refused["Content-Type"].startswith("application/json")
    assert refused.json()["error"]["message"]


def test_missing_backup_and_missing_file(staff, stored):
    none = staff.get("/api/backups/bk_0000000000000000/download/")
    assert none.status_code == 404 and none.json()["error"]["message"] == "There is no stored backup bk_0000000000000000."
    get_storage(stored.storage).delete(stored.storage_name)
    gone = staff.get(url(stored))
    assert gone.status_code == 404 and "is missing from the" in gone.json()["error"]["message"]


def test_each_download_is_logged_with_who_and_which_backup_never_the_token(alice, stored, caplog):
    _, secret = create_token(alice, "laptop")
    with caplog.at_level(logging.INFO, logger="dbkeeper.web.downloads"):
        response = Client().get(url(stored), HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_RANGE="bytes=10-")
        body(response)
    lines = [r.getMessage() for r in caplog.records if r.name == "dbkeeper.web.downloads"]
    assert len(lines) == 1
    assert stored.id in lines[0] and "alice" in lines[0] and "bytes 10-" in lines[0]
    assert secret not in caplog.text and secret[8:] not in caplog.text


def test_each_download_writes_an_audit_row_with_who_and_which_backup(alice, staff, stored, data):
    from dbkeeper.audit.models import AuditEntry

    _, secret = create_token(alice, "laptop")
    body(staff.get(url(stored)))
    body(Client().get(url(stored), HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_RANGE="bytes=10-"))
    staff.head(url(stored))  # headers only: no bytes left, no row
    staff.get("/api/backups/bk_0000000000000000/download/")  # refused: no row
    rows = list(AuditEntry.objects.filter(action="backup.download").order_by("number"))
    assert len(rows) == 2
    assert all(r.username == "alice" and r.backup == stored.id and r.outcome == "ok" for r in rows)
    assert rows[0].details["whole"] is True and rows[0].details["start"] == 0
    assert rows[1].details["whole"] is False and rows[1].details["start"] == 10
    assert rows[1].details["end"] == len(data) - 1 and rows[1].method == "api_token" and rows[1].token_prefix
    assert all(secret not in str(r.details) for r in rows)


def test_an_encrypted_backup_downloads_as_stored(staff, settings, tmp_path):
    settings.DBKEEPER = {**settings.DBKEEPER, "DATA_DIR": str(tmp_path / "data")}
    backup = put_backup(get_storage(), b"age-encryption.org/v1\n...", name="shop.dump",
                        recipients=["age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"])
    response = staff.get(url(backup))
    assert response["Content-Disposition"] == 'attachment; filename="shop.dump.age"'
    assert body(response) == b"age-encryption.org/v1\n..."


# -- the real server ----------------------------------------------------------------------

CREATE_STORED = """
import hashlib
from dbkeeper.backups.models import Backup
from dbkeeper.backups.storage import get_storage
block = bytes(range(256)) * 4096  # 1 MiB
storage = get_storage()
with storage.writer("2026/11/big.dump", "op-big") as out:
    for i in range({mib}):
        out.write(i.to_bytes(8, "big") + block[8:])
    out.commit()
b = Backup.objects.create(name="big.dump", storage=storage.name, storage_name="2026/11/big.dump", size=out.size,
                          sha256=out.sha256, format="pg_custom")
print(b.id, b.sha256)
"""


def expected_sha(mib):
    block = bytes(range(256)) * 4096
    digest = hashlib.sha256()
    for i in range(mib):
        digest.update(i.to_bytes(8, "big") + block[8:])
    return digest.hexdigest()


@pytest.fixture
def live(tmp_path, request):
    env = {}
    if getattr(request, "param", "local") == "s3":
        env = request.getfixturevalue("s3_server").env(request.getfixturevalue("s3_bucket"))
    # One web thread: the storage's client is made once per thread, so the warm-up
    # download of the memory test and the measured one must meet the same thread.
    server = start_live_server(tmp_path / "data", UPLOADER, UPLOADER_PASSWORD, token_name="tests",
                               web={"processes": 1, "threads": 1}, **env)
    yield server
    server.stop_all()


def test_curl_resumes_a_broken_download(live, tmp_path):
    backup_id, sha = live.python(CREATE_STORED.format(mib=20)).split()
    partial = tmp_path / "big.dump"
    stored = live.data_dir / "backups" / "2026/11/big.dump"
    partial.write_bytes(stored.read_bytes()[: 7 * MiB + 3])  # a download cut short
    subprocess.run(["curl", "-sS", "--fail", "-C", "-", "-o", str(partial), "-H", f"Authorization: Bearer {live.token}",
                    live.url(f"/api/backups/{backup_id}/download/")], check=True, timeout=120)
    assert hashlib.sha256(partial.read_bytes()).hexdigest() == sha == expected_sha(20)


@pytest.mark.parametrize("live", ["local", "s3"], indirect=True)
def test_web_memory_stays_flat_while_streaming_1_gib(live):
    backup_id, sha = live.python(CREATE_STORED.format(mib=1024), timeout=600).split()
    workers = psutil.Process(live.procs["web"].pid).children(recursive=True)
    assert workers, "no gunicorn worker found"
    # A first small download: what a download loads once (the storage's client, its modules)
    # is not growth; what must stay flat is the memory while the bytes flow.
    for _ in range(2):
        requests.get(live.url(f"/api/backups/{backup_id}/download/"), timeout=60,
                     headers={"Authorization": f"Bearer {live.token}", "Range": "bytes=0-1048575"}).raise_for_status()
    before = {w.pid: w.memory_info().rss for w in workers}
    peak = dict(before)
    done = threading.Event()

    def sample():
        while not done.is_set():
            for w in workers:
                try:
                    peak[w.pid] = max(peak[w.pid], w.memory_info().rss)
                except psutil.NoSuchProcess:
                    pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    digest, received = hashlib.sha256(), 0
    try:
        with requests.get(live.url(f"/api/backups/{backup_id}/download/"), stream=True, timeout=60,
                          headers={"Authorization": f"Bearer {live.token}"}) as response:
            assert response.status_code == 200 and int(response.headers["Content-Length"]) == 1024 * MiB
            for chunk in response.iter_content(MiB):
                digest.update(chunk)
                received += len(chunk)
    finally:
        done.set()
        sampler.join()
    assert received == 1024 * MiB and digest.hexdigest() == sha
    growth = max(peak[pid] - before[pid] for pid in before)
    assert growth < 40 * MiB, f"a gunicorn worker grew by {growth / MiB:.0f} MiB while streaming 1 GiB"
    log = live.log_text("web") + "".join(p.read_text(errors="replace") for p in (live.data_dir / "logs").glob("*.log"))
    assert f"download of backup {backup_id}" in log and live.token not in log
