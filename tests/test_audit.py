"""The audit log: every recorded action writes its row with who, how, from
where and what (two linked rows for a restore); no row holds a token or a
password; the app cannot change or delete rows; and rows edited, inserted or
deleted directly in the database, or the newest rows cut off, make
``dbkeeper audit verify`` fail and name the place."""

import base64
import json
import os
import sqlite3
import subprocess
import sys

import pytest
from django.db import connection
from django.test import Client

from dbkeeper.access.api_tokens import create_token, revoke_token
from dbkeeper.audit import chain
from dbkeeper.audit.models import AuditEntry, AuditLogIsAppendOnly
from dbkeeper.audit.service import record
from dbkeeper.backups import store
from dbkeeper.operations import runner
from dbkeeper.operations.queue import huey
from dbkeeper.targets.models import Target

from .builders import make_sqlite
from .pgserver import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)
BROWSER = "Mozilla/5.0 (audit test)"


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", password="pw-root")


@pytest.fixture
def drained():
    yield
    huey.flush()


def rows(action=None):
    found = AuditEntry.objects.order_by("number")
    return list(found.filter(action=action) if action else found)


def one(action):
    found = rows(action)
    assert len(found) == 1, (action, [(e.action, e.username) for e in rows()])
    return found[0]


def session_client(user):
    client = Client(enforce_csrf_checks=True, HTTP_USER_AGENT=BROWSER, REMOTE_ADDR="10.1.2.3")
    client.force_login(user)
    client.get("/")
    return client, client.cookies["csrftoken"].value


def test_sign_in_sign_out_and_failed_sign_in(alice):
    client = Client(HTTP_USER_AGENT=BROWSER, REMOTE_ADDR="10.9.8.7")
    assert client.post("/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    failed = one("signin.failed")
    assert (failed.username, failed.outcome, failed.address, failed.user_agent) == ("alice", "failed", "10.9.8.7", BROWSER)
    assert client.post("/login/", {"username": "alice", "password": "pw-alice"}).status_code == 302
    signin = one("signin")
    assert (signin.username, signin.user_id, signin.method, signin.outcome) == ("alice", str(alice.pk), "session", "ok")
    assert signin.address == "10.9.8.7" and signin.user_agent == BROWSER
    client.post("/logout/")
    signout = one("signout")
    assert signout.username == "alice" and signout.address == "10.9.8.7"


def test_tokens_created_and_revoked_name_only_a_hash_prefix(alice):
    record_, secret = create_token(alice, name="nightly")
    created = one("token.create")
    assert created.username == "alice" and created.details["kind"] == "api_token"
    assert created.details["token"] == record_.token_hash[:8] and secret[4:12] not in json.dumps(created.details)
    revoke_token(record_)
    revoked = one("token.revoke")
    assert revoked.username == "alice" and revoked.details["token"] == record_.token_hash[:8]


def test_target_added_through_the_api_with_a_personal_token(root, pg):
    _, secret = create_token(root, name="script")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_USER_AGENT="curl/8", REMOTE_ADDR="10.0.0.5")
    response = client.post("/api/targets/", {"name": "shop", "url": pg.url("shop")}, content_type="application/json")
    assert response.status_code == 201, response.content
    entry = one("target.add")
    assert (entry.username, entry.method, entry.target, entry.database) == ("root", "api_token", "shop", "shop")
    assert entry.token_prefix == AuditEntry.objects.filter(action="token.create").get().details["token"]
    assert (entry.address, entry.user_agent, entry.outcome) == ("10.0.0.5", "curl/8", "ok")


def test_upload_stored(alice, tmp_path):
    _, secret = create_token(alice, name="uploads")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_TUS_RESUMABLE="1.0.0")
    data = make_sqlite(tmp_path / "notes.sqlite3", rows=20).read_bytes()
    metadata = "filename " + base64.b64encode(b"notes.sqlite3").decode()
    created = client.post("/api/uploads/", headers={"Upload-Length": str(len(data)), "Upload-Metadata": metadata})
    assert created.status_code == 201, created.content
    done = client.patch(created["Location"], data=data, content_type="application/offset+octet-stream",
                        headers={"Upload-Offset": "0"})
    assert done["Dbkeeper-Upload-Status"] == "stored"
    entry = one("upload.store")
    assert entry.username == "alice" and entry.method == "api_token" and entry.backup == done["Dbkeeper-Backup-Id"]
    assert entry.details["name"] == "notes.sqlite3"


def test_a_restore_writes_a_start_row_and_a_linked_end_row(alice, tmp_path, drained):
    backup = store.add_file(make_sqlite(tmp_path / "b.sqlite3", rows=20), "b.sqlite3", move=False)
    Target.objects.create(name="notes", url=f"sqlite:///{tmp_path / 'live.sqlite3'}")
    client, csrf = session_client(alice)
    response = client.post("/api/restores/", {"backup_id": backup.id, "target": "notes", "confirm": "notes"},
                           content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 202, response.content
    op_id = response.json()["id"]
    start = one("restore.start")
    assert (start.username, start.method, start.address, start.user_agent) == ("alice", "session", "10.1.2.3", BROWSER)
    assert (start.target, start.backup, start.operation, start.outcome) == ("notes", backup.id, op_id, "started")
    assert start.database.endswith("live.sqlite3")
    # The progress token issued with it is recorded by its hash prefix only.
    token_row = one("token.create")
    assert token_row.operation == op_id and response.json()["token"][:8] not in json.dumps(token_row.details)
    runner.run(op_id)
    end = one("restore.end")
    assert end.parent == start.number and end.operation == op_id and end.outcome == "succeeded"
    assert (end.username, end.target, end.backup) == ("alice", "notes", backup.id)


def test_cancel_writes_its_row_and_ends_the_started_row(alice, tmp_path, drained):
    backup = store.add_file(make_sqlite(tmp_path / "b.sqlite3", rows=5), "b.sqlite3", move=False)
    Target.objects.create(name="notes", url=f"sqlite:///{tmp_path / 'live.sqlite3'}")
    client, csrf = session_client(alice)
    op_id = client.post("/api/restores/", {"backup_id": backup.id, "target": "notes", "confirm": "notes"},
                        content_type="application/json", HTTP_X_CSRFTOKEN=csrf).json()["id"]
    assert client.post(f"/api/operations/{op_id}/cancel/", HTTP_X_CSRFTOKEN=csrf).status_code == 200
    cancel = one("restore.cancel")
    assert (cancel.username, cancel.operation, cancel.outcome, cancel.method) == ("alice", op_id, "cancelled", "session")
    assert one("restore.end").parent == one("restore.start").number


def test_the_api_and_the_page_list_rows_for_superusers_only_and_exports_are_recorded(alice, root):
    client, _ = session_client(alice)
    assert client.get("/api/audit/").status_code == 403
    assert client.get("/audit/").status_code == 403
    root_client, _ = session_client(root)
    for n in range(5):
        record("test.action", username=f"user{n}", outcome="ok")
    page = root_client.get("/api/audit/?action=test.&page_size=2").json()
    assert page["count"] == 5 and page["pages"] == 3 and page["next"] == 2
    assert [e["username"] for e in page["entries"]] == ["user4", "user3"]
    assert root_client.get("/api/audit/?action=test.&page_size=2&page=3").json()["next"] is None
    html = root_client.get("/audit/?username=user2").content.decode()
    assert "user2" in html and "user3" not in html and 'id="nav-audit"' in html
    assert "alert" in root_client.get("/audit/?since=yesterday-ish").content.decode()
    export = root_client.get("/api/audit/?format=jsonl&action=test.")
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert [json.loads(line)["username"] for line in lines] == [f"user{n}" for n in range(5)]
    csv_text = b"".join(root_client.get("/api/audit/?format=csv&action=test.").streaming_content).decode()
    assert csv_text.splitlines()[0].startswith("number,at,action") and len(csv_text.splitlines()) == 6
    exports = rows("audit.export")
    assert len(exports) == 2 and {e.details["format"] for e in exports} == {"jsonl", "csv"}
    assert all(e.username == "root" for e in exports)
    assert root_client.get("/api/audit/?since=nonsense").json()["error"]["code"] == "bad_filter"


def test_the_app_cannot_change_or_delete_rows():
    entry = record("test.action", outcome="ok")
    entry.outcome = "changed"
    with pytest.raises(AuditLogIsAppendOnly):
        entry.save()
    with pytest.raises(AuditLogIsAppendOnly):
        entry.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).update(outcome="changed")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get(pk=entry.pk).outcome == "ok"


def test_no_row_holds_a_raw_token_or_a_password(alice, root, pg, tmp_path, drained):
    api_record, api_secret = create_token(root, name="script")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_secret}")
    assert client.post("/api/targets/", {"name": "shop", "url": pg.url("shop")},
                       content_type="application/json").status_code == 201
    Client().post("/login/", {"username": "alice", "password": "not-the-password-42"})
    backup = store.add_file(make_sqlite(tmp_path / "b.sqlite3", rows=5), "b.sqlite3", move=False)
    Target.objects.create(name="notes", url=f"sqlite:///{tmp_path / 'live.sqlite3'}")
    op = client.post("/api/restores/", {"backup_id": backup.id, "target": "notes", "confirm": "notes"},
                     content_type="application/json").json()
    raw_operation_token = op["token"]
    revoke_token(api_record)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM dbkeeper_auditentry")
        table = json.dumps(cursor.fetchall(), default=str)
    assert len(rows()) >= 6
    for secret in (api_secret, api_secret[4:16], raw_operation_token, raw_operation_token[:12], PASSWORD,
                   "not-the-password-42", "pw-alice", "pw-root"):
        assert secret not in table, secret


# -- the chain and ``dbkeeper audit verify`` ---------------------------------------------------

def dbkeeper(data, *args):
    env = {**os.environ, "DBKEEPER_DATA_DIR": str(data), "COLUMNS": "200"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, "-m", "dbkeeper", *args], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def logged(tmp_path):
    """A standalone data folder with six audit rows written by six processes
    (each logs an anchor on its first row), and the control database open."""
    data = tmp_path / "data"
    assert dbkeeper(data, "createadmin", "admin").returncode == 0
    for n in range(3):
        created = dbkeeper(data, "token", "create", "admin", "--name", f"t{n}")
        assert created.returncode == 0, created.stderr
        assert dbkeeper(data, "token", "revoke", created.stdout.strip()[:12]).returncode == 0
    db = sqlite3.connect(data / "control.sqlite3", isolation_level=None)
    assert db.execute("SELECT COUNT(*) FROM dbkeeper_auditentry").fetchone()[0] == 6
    yield data, db
    db.close()


def verify(data, *args):
    return dbkeeper(data, "audit", "verify", *args)


def test_an_intact_log_verifies(logged):
    data, _ = logged
    result = verify(data)
    assert result.returncode == 0, result.stderr
    assert "6 rows" in result.stdout
    assert (data / "audit.key").stat().st_mode & 0o777 == 0o600
    assert "audit anchor 6 " in (data / "logs" / "dbkeeper.log").read_text()


def test_an_edited_row_is_named(logged):
    data, db = logged
    db.execute("UPDATE dbkeeper_auditentry SET username = 'mallory' WHERE number = 3")
    result = verify(data)
    assert result.returncode == 1 and "Row 3 does not match its HMAC" in result.stderr


def test_an_edited_row_with_a_hmac_computed_without_the_key_is_named(logged):
    data, db = logged
    # Someone who can write the database but has no key recomputes the HMAC with a guess.
    db.execute("UPDATE dbkeeper_auditentry SET outcome = 'failed', hmac = ? WHERE number = 2", ["0" * 64])
    assert "Row 2 does not match" in verify(data).stderr


def test_a_deleted_row_is_named(logged):
    data, db = logged
    db.execute("DELETE FROM dbkeeper_auditentry WHERE number = 4")
    result = verify(data)
    assert result.returncode == 1 and "Row 4 is missing: it was deleted" in result.stderr
    db.execute("DELETE FROM dbkeeper_auditentry WHERE number = 5")
    assert "Rows 4 to 5 are missing" in verify(data).stderr


def test_an_inserted_row_is_named(logged):
    data, db = logged
    # Make room by moving the later rows up one, then insert a forged row 3.
    for number in (6, 5, 4, 3):
        db.execute("UPDATE dbkeeper_auditentry SET number = number + 1 WHERE number = ?", [number])
    db.execute("INSERT INTO dbkeeper_auditentry (number, at, action, user_id, username, method, token_prefix, address, "
               "user_agent, target, database, backup, operation, outcome, sentence, details, parent, hmac) "
               "SELECT 3, at, 'signin', user_id, 'mallory', method, '', '', '', '', '', '', '', 'ok', NULL, '{}', "
               "NULL, hmac FROM dbkeeper_auditentry WHERE number = 2")
    result = verify(data)
    assert result.returncode == 1 and "Row 3 does not match its HMAC" in result.stderr


def test_deleting_the_newest_rows_is_found_from_the_logged_anchor(logged):
    data, db = logged
    db.execute("DELETE FROM dbkeeper_auditentry WHERE number >= 5")
    result = verify(data)
    assert result.returncode == 1
    assert "cut off: row 6" in result.stderr and "the last row is 4" in result.stderr


def test_deleting_the_newest_rows_is_found_from_an_anchor_given_on_the_command_line(logged):
    data, db = logged
    number, digest = db.execute("SELECT number, hmac FROM dbkeeper_auditentry ORDER BY number DESC").fetchone()
    (data / "logs" / "dbkeeper.log").unlink()  # the log is gone too: the anchor was kept elsewhere
    db.execute("DELETE FROM dbkeeper_auditentry WHERE number = ?", [number])
    assert verify(data).returncode == 0  # without an anchor, a cut at the end cannot be seen
    result = verify(data, "--anchor", f"{number}:{digest}")
    assert result.returncode == 1 and f"row {number}" in result.stderr
    bad = verify(data, "--anchor", "six:abc")
    assert bad.returncode == 1 and "An anchor is NUMBER:HMAC" in bad.stderr


def test_the_command_line_exports_jsonl_and_csv_and_records_it(logged):
    data, db = logged
    jsonl = dbkeeper(data, "audit", "--json", "--action", "token.create")
    assert jsonl.returncode == 0, jsonl.stderr
    lines = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert len(lines) == 3 and all(line["action"] == "token.create" and line["method"] == "cli" for line in lines)
    csv_out = dbkeeper(data, "audit", "--format", "csv", "--since", "1d")
    assert csv_out.returncode == 0 and csv_out.stdout.startswith("number,at,action")
    assert db.execute("SELECT COUNT(*) FROM dbkeeper_auditentry WHERE action = 'audit.export'").fetchone()[0] == 2
    assert verify(data).returncode == 0
    assert dbkeeper(data, "audit", "--since", "last tuesday").returncode == 1


def test_the_key_can_come_from_the_settings_and_without_it_rows_do_not_verify(settings):
    first = record("test.action", outcome="ok")
    settings.DBKEEPER = {**settings.DBKEEPER, "AUDIT_KEY": "another key"}
    second = record("test.action", outcome="ok")
    assert chain.verify(rows()).problems[0].english().startswith("Row 1 does not match")
    assert chain.compute(first.hmac, second) == second.hmac


def test_a_restore_run_by_the_command_line_has_linked_rows_and_removing_a_target_is_recorded(tmp_path):
    data = tmp_path / "data"
    backup = make_sqlite(tmp_path / "b.sqlite3", rows=5)
    added = dbkeeper(data, "target", "add", "notes", f"sqlite:///{tmp_path / 'live.sqlite3'}")
    assert added.returncode == 0, added.stderr
    restored = dbkeeper(data, "restore", str(backup), "--target", "notes", "--yes")
    assert restored.returncode == 0, restored.stderr
    assert dbkeeper(data, "target", "remove", "notes").returncode == 0
    db = sqlite3.connect(data / "control.sqlite3")
    found = db.execute("SELECT number, action, method, target, outcome, parent, operation FROM dbkeeper_auditentry "
                       "ORDER BY number").fetchall()
    db.close()
    actions = [row[1] for row in found]
    assert actions == ["target.add", "restore.start", "restore.end", "target.remove"], found
    start, end = found[1], found[2]
    assert start[2] == "cli" and start[3] == "notes" and start[4] == "started"
    assert end[5] == start[0] and end[6] == start[6] and end[4] == "succeeded"
    assert dbkeeper(data, "audit", "verify").returncode == 0


@pytest.mark.parametrize("control", ["sqlite", "postgresql"])
def test_concurrent_writers_keep_one_linear_chain(control, pg, tmp_path):
    """Several processes appending at once (the append lock: SQLite's IMMEDIATE
    transaction, PostgreSQL's table lock) leave consecutive rows that verify."""
    data = tmp_path / "data"
    env = {}
    if control == "postgresql":
        pg.drop_db("dbkeeper_control_audit")
        pg.create_db("dbkeeper_control_audit")
        env["DBKEEPER_CONTROL_DATABASE_URL"] = pg.url("dbkeeper_control_audit")
    base = {**os.environ, "DBKEEPER_DATA_DIR": str(data), **env}
    base.pop("DJANGO_SETTINGS_MODULE", None)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "dbkeeper", *args], env=base, capture_output=True, text=True,
                              timeout=120)

    assert run("createadmin", "admin").returncode == 0
    code = ("import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'dbkeeper.site.settings'); django.setup()\n"
            "from dbkeeper.audit.service import record\n"
            "for n in range(15): record('test.concurrent', username=str(os.getpid()), outcome='ok')\n")
    writers = [subprocess.Popen([sys.executable, "-c", code], env=base) for _ in range(4)]
    assert all(w.wait(timeout=120) == 0 for w in writers)
    result = run("audit", "verify")
    assert result.returncode == 0, result.stderr
    assert "60 rows, the last is 60" in result.stdout
    if control == "postgresql":
        pg.drop_db("dbkeeper_control_audit")


def test_anchors_are_logged_every_100_rows_and_after_an_hour(caplog, monkeypatch):
    import time

    from dbkeeper.audit import service

    caplog.set_level("INFO", logger="dbkeeper.audit.anchor")
    monkeypatch.setitem(service._last_anchor, "at", time.monotonic())  # as if this process had just anchored
    for _ in range(101):
        record("test.action", outcome="ok")
    anchors = [r.getMessage() for r in caplog.records if r.name == "dbkeeper.audit.anchor"]
    hundredth = AuditEntry.objects.get(number=100)
    assert anchors == [f"audit anchor 100 {hundredth.hmac}"]
    monkeypatch.setitem(service._last_anchor, "at", time.monotonic() - 3601)
    latest = record("test.action", outcome="ok")
    anchors = [r.getMessage() for r in caplog.records if r.name == "dbkeeper.audit.anchor"]
    assert anchors[-1] == f"audit anchor {latest.number} {latest.hmac}" and len(anchors) == 2
