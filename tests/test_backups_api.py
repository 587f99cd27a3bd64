"""Starting backups from the API and the command line, tracked like
restores: 202 with id, operation token and status URL; the status polled
with the token to the end; the catalog listed with filters; ``dbkeeper
backup`` with its progress bar, ``dbkeeper backups`` and ``dbkeeper rescan``."""

import json
from datetime import timedelta

import pytest
import requests
from django.test import Client
from django.utils import timezone

from dbkeeper.backups.models import Backup
from dbkeeper.operations import runner
from dbkeeper.operations.models import Operation
from dbkeeper.operations.queue import huey
from dbkeeper.targets.models import Target

from .backup_helpers import make_backup, own_storage  # noqa: F401 (fixture)
from .builders import make_pg_source, make_sqlite
from .live import start_live_server, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_storage")]


@pytest.fixture
def drained():
    """Queued tasks are removed afterwards (no worker runs in the in-process tests)."""
    yield
    huey.flush()


@pytest.fixture
def notes(tmp_path):
    make_sqlite(tmp_path / "notes.sqlite3", rows=40)
    Target.objects.create(name="notes", url=f"sqlite:///{tmp_path / 'notes.sqlite3'}")
    return "notes"


def csrf_client(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")
    return client, client.cookies["csrftoken"].value


def post(client, csrf=None, **body):
    headers = {"HTTP_X_CSRFTOKEN": csrf} if csrf else {}
    return client.post("/api/backups/", body, content_type="application/json", **headers)


def test_post_answers_202_and_the_token_follows_it_to_the_end(alice, notes, drained):
    client, csrf = csrf_client(alice)
    response = post(client, csrf, target=notes, compress=9)
    assert response.status_code == 202, response.content
    data = response.json()
    assert set(data) == {"id", "kind", "status", "token", "backup_id", "status_url", "progress_url"}
    assert (data["kind"], data["status"]) == ("backup", "queued")
    assert data["status_url"] == f"/restore-progress/{data['id']}/status/"
    op = Operation.objects.get(pk=data["id"])
    assert (op.user_id, op.username, op.backup_id) == (str(alice.pk), "alice", data["backup_id"])
    # The progress page follows it by its id, as it follows a restore.
    assert client.get(data["progress_url"]).status_code == 200
    # The worker's part, here; the token alone (no session) reads the status.
    runner.run(op.id)
    status = Client().get(data["status_url"], HTTP_X_TEMP_TOKEN=data["token"]).json()
    assert status["status"] == "succeeded" and status["percent"] == 100 and status["finished"]
    assert status["result"]["backup_id"] == data["backup_id"] and status["result"]["tables"] == 2
    backup = Backup.objects.get()
    assert backup.id == data["backup_id"] and backup.info["compression"] == 9
    assert (backup.username, backup.origin) == ("alice", "manual")

    # The user hears how it ended, in words about a backup.
    from dbkeeper.notifications.delivery import message_for
    from dbkeeper.notifications.models import Notification

    op.refresh_from_db()
    assert Notification.objects.get(operation_id=op.id).outcome == "succeeded"
    subject, body = message_for(op)
    assert subject == f"Backup finished: {op.target_display}"
    assert body.startswith(f"The backup of {op.target_display} succeeded.")

    listed = client.get("/api/backups/").json()["backups"]
    assert [b["id"] for b in listed] == [backup.id]
    assert listed[0]["tables"] == {"notes": 40, "tags": 10} and listed[0]["sha256"] == backup.sha256


def test_list_filters_by_target_origin_and_date(alice, notes, tmp_path):
    other = make_sqlite(tmp_path / "other.sqlite3", rows=5)
    make_backup(notes)
    make_backup(f"sqlite:///{other}", origin="schedule:nightly")
    Backup.objects.filter(origin="schedule:nightly").update(created_at=timezone.now() - timedelta(days=3))
    client = Client()
    client.force_login(alice)

    def ids(**query):
        response = client.get("/api/backups/", query)
        assert response.status_code == 200, response.content
        return sorted(b["origin"] for b in response.json()["backups"])

    assert ids() == ["manual", "schedule:nightly"]
    assert ids(target="notes") == ["manual"]
    assert ids(origin="schedule") == ["schedule:nightly"] == ids(origin="schedule:nightly")
    assert ids(since=(timezone.now() - timedelta(days=1)).date().isoformat()) == ["manual"]
    response = client.get("/api/backups/", {"since": "last tuesday"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"


def test_refusals_are_json_and_record_nothing(alice, bob, notes, django_user_model, drained, tmp_path):
    client, csrf = csrf_client(alice)
    cases = [
        ({"target": ""}, 400, "target_required"),
        ({"target": "nope"}, 400, "target_unknown"),
        # The web backs up configured targets only, never a URL typed in.
        ({"target": f"sqlite:///{tmp_path / 'notes.sqlite3'}"}, 400, "target_unknown"),
        ({"target": notes, "format": "pg_custom"}, 400, "wrong_target_kind"),
        ({"target": notes, "compress": "12"}, 400, "bad_compression"),
        ({"target": notes, "storage": "nowhere"}, 400, "unknown_storage"),
    ]
    for body, status, code in cases:
        response = post(client, csrf, **body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
    assert Operation.objects.count() == 0
    assert post(client).status_code == 403  # a session without its CSRF token
    assert Client().post("/api/backups/", {}, content_type="application/json").status_code == 401
    clerk = django_user_model.objects.create_user("clerk", password="pw-clerk")
    plain = Client()
    plain.force_login(clerk)
    assert plain.get("/api/backups/").status_code == 403
    assert Operation.objects.count() == 0
    # One at a time per target.
    assert post(client, csrf, target=notes).status_code == 202
    busy = post(client, csrf, target=notes)
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "target_busy"


# -- a live server: web, worker and command line in processes of their own ---------------------

def test_live_api_with_a_personal_token_and_the_command_line(pg, tmp_path):
    make_pg_source(pg, "bk_live_src", rows=4000, value="live")
    server = start_live_server(tmp_path / "data", "keeper", "pw-keeper", token_name="tests", everything=True)
    try:
        auth = {"Authorization": f"Bearer {server.token}"}
        server.python("from dbkeeper.targets.models import Target\n"
                      f"Target.objects.create(name='shop', url={pg.url('bk_live_src')!r})\n")
        started = requests.post(server.url("/api/backups/"), json={"target": "shop", "format": "pg_plain"},
                                headers=auth, timeout=10)
        assert started.status_code == 202, started.text
        data = started.json()
        seen = []

        def finished():
            status = requests.get(server.url(data["status_url"]), headers={"X-Temp-Token": data["token"]},
                                  timeout=10).json()
            seen.append(status["percent"])
            return status["finished"] and status

        status = wait_for(finished, 60, "the backup to finish")
        assert status["status"] == "succeeded", status
        assert seen == sorted(seen)
        listed = requests.get(server.url("/api/backups/"), params={"target": "shop"}, headers=auth, timeout=10)
        rows = listed.json()["backups"]
        assert [r["id"] for r in rows] == [data["backup_id"]]
        assert rows[0]["tables"] == {"public.items": 4000, "sales.orders": 400}
        assert rows[0]["username"] == "keeper" and rows[0]["format"] == "pg_plain"

        # The command line: the same operation, run here with a progress bar.
        result = server.cli("backup", "shop", "--compress", "1")
        backup_id = result.stdout.strip()
        assert backup_id.startswith("bk_")
        said = " ".join(result.stderr.split())
        assert "100.0 %" in said and f"Stored {backup_id}:" in said and "2 tables, 4,400 rows" in said
        catalog = json.loads(server.cli("backups", "--json").stdout)
        assert sorted(b["id"] for b in catalog) == sorted([backup_id, data["backup_id"]])
        assert {b["origin"] for b in catalog} == {"manual"}

        # The control database loses its rows: rescan brings them back from the storage.
        server.python("from dbkeeper.backups.models import Backup\nBackup.objects.all().delete()\n")
        assert json.loads(server.cli("backups", "--json").stdout) == []
        rebuilt = json.loads(server.cli("rescan", "--json").stdout)
        assert sorted(rebuilt["added"]) == sorted(b["id"] for b in catalog)
        again = json.loads(server.cli("backups", "--json").stdout)
        assert {(b["id"], b["sha256"], b["size"]) for b in again} == {(b["id"], b["sha256"], b["size"]) for b in catalog}

        # A file name where a target belongs: the old fixture form is pointed to --output.
        wrong = server.cli("backup", "site.json.gz", check=False)
        assert wrong.returncode == 1 and "use --output site.json.gz" in wrong.stderr
    finally:
        server.stop_all()
        pg.drop_db("bk_live_src")
