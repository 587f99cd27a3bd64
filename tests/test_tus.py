"""The tus 1.0 upload server: the protocol in process (Django's test client),
then a tus client nobody here wrote (tuspy) against the real multi-process
server, a connection dropped mid-chunk, and a disk that fills up."""

import base64
import hashlib
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import requests
from django.test import Client
from django.utils import timezone, translation
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError
from tusclient.uploader import Uploader

from dbkeeper import conf
from dbkeeper.access.api_tokens import ApiToken, create_token, revoke_token
from dbkeeper.backups.models import Backup
from dbkeeper.messages import render_stored
from dbkeeper.uploads import partial, service, tasks
from dbkeeper.uploads.models import Upload

from .live import LiveServer, wait_for
from .pgserver import free_port
from .tcpproxy import TcpProxy
from .tus_helpers import make_sqlite_backup, sha256_file, stored_files, upload_row

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


# -- in process ----------------------------------------------------------------

@pytest.fixture
def users(alice, bob, django_user_model):
    plain = django_user_model.objects.create_user("carol", password="pw-carol", is_staff=False)
    return alice, bob, plain


def api(user):
    """A test client that sends ``user``'s personal API token."""
    _, secret = create_token(user, name="tests")
    return Client(headers={"Authorization": f"Bearer {secret}", **TUS})


def create(client, length, filename="backup.bin", **headers):
    metadata = "filename " + base64.b64encode(filename.encode()).decode()
    return client.post("/api/uploads/", headers={"Upload-Length": str(length), "Upload-Metadata": metadata, **headers})


def send(client, url, offset, data, **headers):
    return client.patch(url, data=data, content_type=OCTETS, headers={"Upload-Offset": str(offset), **headers})


def checksum(algorithm, data):
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def partial_size(url):
    return partial.path_for(url.rsplit("/", 1)[1]).stat().st_size


pytestmark = pytest.mark.django_db(transaction=True)


def test_options_advertises_version_extensions_max_size_and_checksums(client, settings):
    settings.DBKEEPER = {**settings.DBKEEPER, "MAX_UPLOAD_SIZE": 12345}
    response = client.options("/api/uploads/")
    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0"
    assert set(response["Tus-Extension"].split(",")) == {"creation", "termination", "checksum", "expiration"}
    assert response["Tus-Max-Size"] == "12345"
    assert {"sha1", "sha256"} <= set(response["Tus-Checksum-Algorithm"].split(","))


def test_creation_then_head_reports_offset_length_metadata_and_expiry(users):
    alice = api(users[0])
    response = create(alice, 1000, filename="ünï backup.sqlite3")
    assert response.status_code == 201
    url = response["Location"]
    assert url.startswith("/api/uploads/up_") and response["Upload-Expires"].endswith("GMT")
    head = alice.head(url)
    assert head.status_code == 200
    assert (head["Upload-Offset"], head["Upload-Length"], head["Cache-Control"]) == ("0", "1000", "no-store")
    name = dict(p.split(" ") for p in head["Upload-Metadata"].split(","))["filename"]
    assert base64.b64decode(name).decode() == "ünï backup.sqlite3"
    upload = Upload.objects.get()
    assert upload.username == "alice" and upload.filename == "ünï backup.sqlite3"
    # The client's name is metadata only: the partial file has the server's id.
    assert partial.path_for(upload.id).name == f"{upload.id}.part" and partial.path_for(upload.id).exists()


def test_client_file_name_never_becomes_a_path(users):
    alice = api(users[0])
    url = create(alice, 10, filename="../../etc/passwd")["Location"]
    upload = Upload.objects.get(pk=url.rsplit("/", 1)[1])
    assert upload.filename == "passwd"
    assert [p.name for p in conf.data_subdir("uploads").iterdir() if upload.id in p.name] == [f"{upload.id}.part"]


def test_chunks_append_and_wrong_offset_is_409(users):
    alice = api(users[0])
    url = create(alice, 10)["Location"]
    first = send(alice, url, 0, b"abcd")
    assert first.status_code == 204 and first["Upload-Offset"] == "4"
    wrong = send(alice, url, 2, b"wxyz")
    assert wrong.status_code == 409
    body = wrong.json()
    assert body["error"]["code"] == "offset_mismatch" and "at byte 4" in body["error"]["message"]
    assert body["upload_offset"] == 4 and partial_size(url) == 4
    assert send(alice, url, 4, b"efg").status_code == 204
    assert alice.head(url)["Upload-Offset"] == "7"


def test_bad_checksum_is_460_and_the_chunk_is_discarded(users):
    alice = api(users[0])
    url = create(alice, 20)["Location"]
    assert send(alice, url, 0, b"12345", **{"Upload-Checksum": checksum("sha1", b"12345")}).status_code == 204
    bad = send(alice, url, 5, b"67890", **{"Upload-Checksum": checksum("sha256", b"something else")})
    assert bad.status_code == 460 and bad.reason_phrase == "Checksum Mismatch"
    assert bad.json()["error"]["code"] == "checksum_mismatch" and "discarded" in bad.json()["error"]["message"]
    assert alice.head(url)["Upload-Offset"] == "5" and partial_size(url) == 5
    assert partial.path_for(url.rsplit("/", 1)[1]).read_bytes() == b"12345"
    good = send(alice, url, 5, b"67890", **{"Upload-Checksum": checksum("sha256", b"67890")})
    assert good.status_code == 204 and good["Upload-Offset"] == "10"
    assert partial.path_for(url.rsplit("/", 1)[1]).read_bytes() == b"1234567890"
    assert send(alice, url, 10, b"ab", **{"Upload-Checksum": checksum("md5", b"ab")}).status_code == 204


def test_bad_headers_are_refused_with_sentences(users):
    alice = api(users[0])
    url = create(alice, 20)["Location"]
    unsupported = send(alice, url, 0, b"abc", **{"Upload-Checksum": "crc32 AAAA"})
    assert unsupported.status_code == 400 and "not supported" in unsupported.json()["error"]["message"]
    wrong_type = alice.patch(url, data=b"abc", content_type="application/octet-stream", headers={"Upload-Offset": "0"})
    assert wrong_type.status_code == 415 and OCTETS in wrong_type.json()["error"]["message"]
    no_version = Client(headers={"Authorization": alice.defaults["HTTP_AUTHORIZATION"]})
    old = no_version.head(url)
    assert old.status_code == 412 and old["Tus-Version"] == "1.0.0"
    assert alice.post("/api/uploads/").status_code == 400  # no Upload-Length
    assert alice.post("/api/uploads/", headers={"Upload-Length": "12", "Upload-Metadata": "filename ***"}).status_code == 400
    assert alice.post("/api/uploads/", headers={"Upload-Length": "-5"}).status_code == 400
    assert alice.post("/api/uploads/", headers={"Upload-Defer-Length": "1"}).status_code == 400
    assert alice.head(url)["Upload-Offset"] == "0" and Upload.objects.count() == 1


def test_termination_deletes_the_partial_file(users):
    alice = api(users[0])
    url = create(alice, 100)["Location"]
    send(alice, url, 0, b"x" * 40)
    path = partial.path_for(url.rsplit("/", 1)[1])
    assert path.stat().st_size == 40
    response = alice.delete(url)
    assert response.status_code == 204
    assert not path.exists() and not Upload.objects.exists()
    assert alice.head(url).status_code == 404
    assert send(alice, url, 40, b"y").status_code == 404


def test_expired_upload_is_gone_and_the_periodic_task_cleans_it_up(users):
    alice = api(users[0])
    url = create(alice, 100)["Location"]
    send(alice, url, 0, b"x" * 10)
    upload = Upload.objects.get()
    Upload.objects.filter(pk=upload.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert alice.head(url).status_code == 410
    refused = send(alice, url, 10, b"y")
    assert refused.status_code == 410 and "expired" in refused.json()["error"]["message"]
    assert alice.get(url + "/result").json()["status"] == "expired"
    # A stray partial file nobody refers to goes too, once old enough.
    stray = conf.data_subdir("uploads") / "up_stray.part"
    stray.write_bytes(b"left over")
    old = time.time() - conf.get("UPLOAD_EXPIRY_SECONDS") - 60
    os.utime(stray, (old, old))
    assert tasks.delete_expired_uploads.call_local() == 1
    assert not partial.path_for(upload.id).exists() and not stray.exists()
    assert not Upload.objects.exists()
    assert alice.head(url).status_code == 404


def test_a_completion_cut_short_by_a_dead_process_is_failed_by_the_periodic_task(users):
    alice = api(users[0])
    url = create(alice, 100)["Location"]
    send(alice, url, 0, b"x" * 60)
    upload_id = url.rsplit("/", 1)[1]
    # As if the web process died in the middle of storing it.
    Upload.objects.filter(pk=upload_id).update(status="completing", offset=100)
    assert alice.head(url)["Dbkeeper-Upload-Status"] == "completing"
    with partial.locked(upload_id):  # a completion still running is left alone
        tasks.delete_expired_uploads.call_local()
    assert Upload.objects.get(pk=upload_id).status == "completing"
    tasks.delete_expired_uploads.call_local()
    result = alice.get(url + "/result").json()
    assert result["status"] == "failed" and "upload it again" in result["error"]["message"]
    assert not partial.path_for(upload_id).exists()


def test_the_clean_up_is_a_periodic_task_of_the_worker():
    from dbkeeper.operations.queue import huey

    periodic = [t.name for t in huey._registry.periodic_tasks]
    assert any(name.endswith("delete_expired_uploads") for name in periodic)


def test_each_chunk_moves_the_expiry_on(users, settings):
    settings.DBKEEPER = {**settings.DBKEEPER, "UPLOAD_EXPIRY_SECONDS": 3600}
    alice = api(users[0])
    url = create(alice, 100)["Location"]
    Upload.objects.update(expires_at=timezone.now() + timedelta(seconds=5))
    response = send(alice, url, 0, b"x")
    assert Upload.objects.get().expires_at > timezone.now() + timedelta(seconds=3500)
    assert response["Upload-Expires"] == alice.head(url)["Upload-Expires"]


def test_over_the_size_limit_is_413_at_creation_and_while_receiving(users, settings):
    settings.DBKEEPER = {**settings.DBKEEPER, "MAX_UPLOAD_SIZE": 1000}
    alice = api(users[0])
    too_big = create(alice, 1001)
    assert too_big.status_code == 413 and "at most 1,000 bytes" in too_big.json()["error"]["message"]
    assert not Upload.objects.exists()
    url = create(alice, 1000)["Location"]
    send(alice, url, 0, b"x" * 600)
    past_end = send(alice, url, 600, b"x" * 401)
    assert past_end.status_code == 413 and "past the declared length" in past_end.json()["error"]["message"]
    assert partial_size(url) == 600


def test_unauthenticated_gets_401_json_never_a_redirect(users):
    alice = api(users[0])
    url = create(alice, 10)["Location"]
    for anonymous in (Client(headers=TUS), Client(headers={"Authorization": "Bearer dbk_not-a-real-token", **TUS})):
        for response in (anonymous.post("/api/uploads/", headers={"Upload-Length": "10"}), anonymous.head(url),
                         send(anonymous, url, 0, b"abc"), anonymous.delete(url), anonymous.get(url + "/result")):
            assert response.status_code == 401
            assert "Location" not in response
            assert response["WWW-Authenticate"].startswith("Bearer")
            if response.content:
                assert response.json()["session_expired"] is True
    assert partial_size(url) == 0 and Upload.objects.count() == 1


def test_a_host_that_requires_login_everywhere_still_gets_401_json(users, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.contrib.auth.middleware.LoginRequiredMiddleware"]
    response = Client(headers=TUS).post("/api/uploads/", headers={"Upload-Length": "10"})
    assert response.status_code == 401 and response.json()["session_expired"] is True
    assert Client().get("/uploads/new/").status_code == 302  # the page itself does go to the login page
    assert create(api(users[0]), 10).status_code == 201


def test_a_revoked_token_or_a_renamed_user_no_longer_authenticates(users):
    staff = users[0]
    record, secret = create_token(staff)
    client = Client(headers={"Authorization": f"Bearer {secret}", **TUS})
    assert create(client, 5).status_code == 201
    assert ApiToken.objects.get(pk=record.pk).last_used_at is not None
    revoke_token(record)
    assert create(client, 5).status_code == 401
    record2, secret2 = create_token(staff)
    staff.username = "alice-renamed"
    staff.save()
    assert create(Client(headers={"Authorization": f"Bearer {secret2}", **TUS}), 5).status_code == 401
    # Only the hash is stored, never the token.
    assert not ApiToken.objects.filter(token_hash=secret2).exists()
    assert ApiToken.objects.get(pk=record2.pk).token_hash == hashlib.sha256(secret2.encode()).hexdigest()


def test_non_staff_is_refused(users):
    response = create(api(users[2]), 10)
    assert response.status_code == 403 and "upload backups" in response.json()["error"]["message"]
    assert not Upload.objects.exists()


def test_another_users_upload_is_404(users):
    alice, bob = api(users[0]), api(users[1])
    url = create(alice, 10)["Location"]
    send(alice, url, 0, b"abc")
    for response in (bob.head(url), send(bob, url, 3, b"def"), bob.delete(url), bob.get(url + "/result")):
        assert response.status_code == 404
    assert alice.head(url)["Upload-Offset"] == "3" and partial_size(url) == 3


def test_session_requests_need_the_csrf_token(users):
    browser = Client(enforce_csrf_checks=True, headers=TUS)
    browser.login(username="alice", password="pw-alice")
    refused = create(browser, 10)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    page = browser.get("/uploads/new/")
    assert page.status_code == 200 and b"tus-client.js" in page.content
    token = browser.cookies["csrftoken"].value
    created = create(browser, 10, **{"X-CSRFToken": token})
    assert created.status_code == 201
    url = created["Location"]
    assert browser.head(url).status_code == 200  # reading needs no CSRF token
    assert send(browser, url, 0, b"abc").status_code == 403
    assert send(browser, url, 0, b"abc", **{"X-CSRFToken": token}).status_code == 204
    assert browser.delete(url, headers={"X-CSRFToken": token}).status_code == 204


def test_upload_page_needs_a_signed_in_staff_member(users):
    anonymous = Client()
    assert anonymous.get("/uploads/new/").status_code == 302
    plain = Client()
    plain.login(username="carol", password="pw-carol")
    assert plain.get("/uploads/new/").status_code == 403


def upload_whole(client, data, filename, chunk=7000):
    url = create(client, len(data), filename=filename)["Location"]
    response = None
    for offset in range(0, len(data), chunk):
        response = send(client, url, offset, data[offset:offset + chunk])
        last = offset + chunk >= len(data)
        # The last chunk of a file that is not kept answers 422 (checked by the callers).
        assert response.status_code in ((204, 422) if last else (204,)), response.content
    return url, response


def test_completed_upload_becomes_a_stored_backup(users, tmp_path):
    alice = api(users[0])
    data = make_sqlite_backup(tmp_path / "notes.sqlite3").read_bytes()
    url, last = upload_whole(alice, data, "notes.sqlite3")
    assert last["Dbkeeper-Upload-Status"] == "stored"
    backup = Backup.objects.get(pk=last["Dbkeeper-Backup-Id"])
    assert backup.sha256 == hashlib.sha256(data).hexdigest() and backup.size == len(data)
    assert backup.name == "notes.sqlite3" and backup.username == "alice" and backup.format == "sqlite"
    result = alice.get(last["Dbkeeper-Result-Url"]).json()
    assert result["status"] == "stored" and result["backup"]["id"] == backup.id and result["error"] is None
    assert not partial.path_for(url.rsplit("/", 1)[1]).exists()
    head = alice.head(url)
    assert head["Upload-Offset"] == str(len(data)) and head["Dbkeeper-Backup-Id"] == backup.id
    finished = send(alice, url, len(data), b"x")
    assert finished.status_code == 410
    assert alice.delete(url).status_code == 410


@pytest.mark.parametrize("kind", ["random", "text", "empty"])
def test_unrecognised_file_is_rejected_and_leaves_nothing_behind(users, kind):
    alice = api(users[0])
    data = {"random": os.urandom(50_000), "text": b"Dear diary,\nnothing to restore here.\n" * 300, "empty": b""}[kind]
    before = stored_files(conf.data_dir())
    if data:
        url, last = upload_whole(alice, data, f"{kind}.dump")
    else:
        # Complete as soon as it is announced: the POST fails as a last PATCH would.
        last = create(alice, 0, filename="empty.dump")
        assert "Location" not in last
        url = last["Dbkeeper-Result-Url"].removesuffix("/result")
    assert last["Dbkeeper-Upload-Status"] == "rejected" and "Dbkeeper-Backup-Id" not in last
    result = alice.get(url + "/result").json()
    assert result["status"] == "rejected" and result["backup"] is None
    message = result["error"]["message"]
    assert last.status_code == 422 and last.json()["error"] == result["error"]
    assert ("empty" in message) if kind == "empty" else ("not a backup dbkeeper can restore" in message)
    assert not Backup.objects.exists()
    assert stored_files(conf.data_dir()) == before
    assert not partial.path_for(url.rsplit("/", 1)[1]).exists()


def test_a_rejected_uploads_reason_is_shown_in_the_readers_language(users):
    alice = api(users[0])
    url, last = upload_whole(alice, b"\x1f\x8b\x08\x00" + b"not really gzip data at all" * 4, "cut.sql.gz")
    assert last.status_code == 422 and last["Dbkeeper-Upload-Status"] == "rejected"
    upload = Upload.objects.get(pk=url.rsplit("/", 1)[1])
    assert upload.error_data and upload.error_message.startswith("The file looks gzipped but cannot be decompressed")
    english = alice.get(url + "/result", headers={"Accept-Language": "en"}).json()["error"]["message"]
    arabic = alice.get(url + "/result", headers={"Accept-Language": "ar"}).json()["error"]["message"]
    assert english == upload.error_message
    with translation.override("ar"):
        assert arabic == render_stored(upload.error_data, upload.error_message) != english


def test_completion_reads_the_file_again_only_when_the_running_digest_is_missing(users, tmp_path):
    alice = api(users[0])
    data = make_sqlite_backup(tmp_path / "a.sqlite3").read_bytes()
    half = len(data) // 2
    url = create(alice, len(data), filename="a.sqlite3")["Location"]
    send(alice, url, 0, data[:half])
    # As if the rest came to another process that never saw the beginning.
    partial.running_digests.drop(url.rsplit("/", 1)[1])
    last = send(alice, url, half, data[half:])
    assert Backup.objects.get(pk=last["Dbkeeper-Backup-Id"]).sha256 == hashlib.sha256(data).hexdigest()


def test_a_process_that_died_mid_chunk_leaves_no_unacknowledged_bytes(users):
    alice = api(users[0])
    url = create(alice, 100)["Location"]
    send(alice, url, 0, b"a" * 10)
    with open(partial.path_for(url.rsplit("/", 1)[1]), "ab") as fh:
        fh.write(b"never acknowledged")
    assert alice.head(url)["Upload-Offset"] == "10"
    assert send(alice, url, 10, b"b" * 5).status_code == 204
    assert partial.path_for(url.rsplit("/", 1)[1]).read_bytes() == b"a" * 10 + b"b" * 5


def test_a_second_writer_waits_for_the_lock(users, settings):
    alice = api(users[0])
    url = create(alice, 100)["Location"]
    upload_id = url.rsplit("/", 1)[1]
    service.LOCK_WAIT_SECONDS, saved = 0.2, service.LOCK_WAIT_SECONDS
    try:
        with partial.locked(upload_id):
            busy = send(alice, url, 0, b"abc")
        assert busy.status_code == 423 and "try again" in busy.json()["error"]["message"]
        assert send(alice, url, 0, b"abc").status_code == 204
    finally:
        service.LOCK_WAIT_SECONDS = saved


# -- the real server -----------------------------------------------------------

def tus(web_server, port=None):
    return tus_client.TusClient(web_server.url("/api/uploads/", port=port), headers={"Authorization": f"Bearer {web_server.token}"})


def test_tuspy_uploads_in_chunks_and_the_stored_file_is_identical(web_server, tmp_path):
    source = make_sqlite_backup(tmp_path / "tuspy.sqlite3", rows=4000)
    uploader = tus(web_server).uploader(str(source), chunk_size=64 * 1024, metadata={"filename": "tuspy.sqlite3"},
                                   upload_checksum=True)
    uploader.upload()
    assert uploader.offset == source.stat().st_size and source.stat().st_size > 4 * 64 * 1024
    row = upload_row(web_server, uploader.url)
    assert row["status"] == "stored"
    stored = web_server.data_dir / "backups" / row["storage_name"]
    assert sha256_file(stored) == sha256_file(source) == row["sha256"]
    assert "Bearer" not in web_server.log_text("web") and web_server.token not in web_server.log_text("web")


def test_tuspy_raises_on_a_rejected_upload(web_server, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("nothing to restore here\n" * 5000)
    uploader = tus(web_server).uploader(str(text), chunk_size=64 * 1024, metadata={"filename": "notes.txt"})
    with pytest.raises(TusCommunicationError) as failure:
        uploader.upload()
    assert failure.value.status_code == 422
    assert "not a backup dbkeeper can restore" in failure.value.response_content.decode()
    row = upload_row(web_server, uploader.url)
    assert row["status"] == "rejected" and row["offset"] == text.stat().st_size


def test_tuspy_raises_on_an_empty_file(web_server, tmp_path):
    empty = tmp_path / "empty.dump"
    empty.write_bytes(b"")
    uploader = tus(web_server).uploader(str(empty), metadata={"filename": "empty.dump"})
    with pytest.raises(TusCommunicationError) as failure:
        uploader.upload()
    assert failure.value.status_code == 422
    assert "empty" in failure.value.response_content.decode()


def test_a_connection_dropped_mid_chunk_resumes_from_the_servers_offset(web_server, tmp_path):
    source = make_sqlite_backup(tmp_path / "dropped.sqlite3", rows=6000)
    data = source.read_bytes()
    proxy = TcpProxy(web_server.port).start()
    try:
        client = tus(web_server, port=proxy.port)
        uploader = client.uploader(str(source), chunk_size=len(data), metadata={"filename": "dropped.sqlite3"})
        url = uploader.create_url()
        # Send the headers of one PATCH for the whole file, then only part of the body.
        sent = len(data) // 3
        sock = socket.create_connection(("127.0.0.1", proxy.port))
        path = "/" + url.split("/", 3)[3]
        sock.sendall((f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1:{proxy.port}\r\nTus-Resumable: 1.0.0\r\n"
                      f"Authorization: Bearer {web_server.token}\r\nContent-Type: {OCTETS}\r\n"
                      f"Upload-Offset: 0\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data[:sent])
        time.sleep(1)  # through the proxy and into the server's socket
        proxy.cut()
        sock.close()
        proxy.restore()
        offset = wait_for(lambda: Uploader(url=url, client=client, file_path=str(source)).get_offset(),
                          15, "the server to record what arrived")
        assert offset == sent
        resumed = client.uploader(str(source), url=url, chunk_size=len(data))
        assert resumed.offset == offset == sent
        resumed.upload()
    finally:
        proxy.cut()
    row = upload_row(web_server, url)
    assert row["status"] == "stored" and row["size"] == len(data)
    assert sha256_file(web_server.data_dir / "backups" / row["storage_name"]) == hashlib.sha256(data).hexdigest()


def test_a_full_disk_answers_507_keeps_what_arrived_and_the_upload_resumes(tmp_path):
    """The web server runs with its uploads folder on a 1 MiB tmpfs of its own
    (a private mount namespace), so the disk really fills up."""
    live = LiveServer(tmp_path / "data")
    live.create_user("uploader", "pw-uploader", staff=True)
    token = live.cli("token", "create", "uploader").stdout.strip()
    uploads_dir = live.data_dir / "uploads"
    uploads_dir.mkdir(exist_ok=True)
    port = free_port()
    log = open(live.logs / "web-small-disk.log", "ab")
    proc = subprocess.Popen(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
         'mount -t tmpfs -o size=1m tmpfs "$0" && exec "$1" -m dbkeeper web --port "$2" --processes 1 --threads 4',
         str(uploads_dir), sys.executable, str(port)],
        env=live.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        LiveServer.wait_http(f"http://127.0.0.1:{port}/login/")
        headers = {"Authorization": f"Bearer {token}", **TUS}
        base = f"http://127.0.0.1:{port}"
        backup = make_sqlite_backup(tmp_path / "b.sqlite3", rows=9000).read_bytes()
        assert 600_000 < len(backup) < 900_000
        filler = os.urandom(700_000)

        def new(length):
            r = requests.post(base + "/api/uploads/", headers={**headers, "Upload-Length": str(length)}, timeout=10)
            assert r.status_code == 201, r.text
            return base + r.headers["Location"]

        def patch(url, offset, data):
            return requests.patch(url, data=data, timeout=20,
                                  headers={**headers, "Upload-Offset": str(offset), "Content-Type": OCTETS})

        # Too big for the free space from the start: refused at creation.
        early = requests.post(base + "/api/uploads/", headers={**headers, "Upload-Length": str(2 << 20)}, timeout=10)
        assert early.status_code == 507 and "free disk space" in early.json()["error"]["message"]
        filler_url, backup_url = new(len(filler) + 1), new(len(backup))
        assert patch(filler_url, 0, filler).status_code == 204
        full = patch(backup_url, 0, backup)
        assert full.status_code == 507
        kept = full.json()["upload_offset"]
        assert 0 < kept < len(backup) and "disk is full" in full.json()["error"]["message"]
        head = requests.head(backup_url, headers=headers, timeout=10)
        assert int(head.headers["Upload-Offset"]) == kept
        # Space comes back; the upload carries on from what was kept.
        assert requests.delete(filler_url, headers=headers, timeout=10).status_code == 204
        done = patch(backup_url, kept, backup[kept:])
        assert done.status_code == 204 and done.headers["Dbkeeper-Upload-Status"] == "stored"
        stored = live.data_dir / "backups" / upload_row(live, backup_url)["storage_name"]
        assert sha256_file(stored) == hashlib.sha256(backup).hexdigest()
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=15)
        log.close()

