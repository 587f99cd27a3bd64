"""The JSON API behind the pages: starting a restore (session + CSRF or a
personal API token), listing, cancelling, new progress tokens, targets."""

import pytest
from django.test import Client
from huey.signals import SIGNAL_ENQUEUED

from dbkeeper.access import operation_tokens as tokens
from dbkeeper.access.operation_tokens import OperationToken
from dbkeeper.backups import store
from dbkeeper.operations.models import Operation
from dbkeeper.targets.models import Target
from dbkeeper.operations.queue import huey

from .builders import make_sqlite

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", password="pw-root")


@pytest.fixture
def backup(tmp_path):
    return store.add_file(make_sqlite(tmp_path / "notes.sqlite3", rows=20), "notes.sqlite3", move=False)


@pytest.fixture
def target(tmp_path):
    Target.objects.create(name="notes", url=f"sqlite:///{tmp_path / 'live.sqlite3'}")
    return "notes"


def csrf_client(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")  # the page sets the CSRF cookie
    return client, client.cookies["csrftoken"].value


def start(client, csrf, **body):
    return client.post("/api/restores/", body, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)


@pytest.fixture
def drained():
    """Queued tasks are removed afterwards (no worker runs in these tests)."""
    yield
    huey.flush()


def test_start_answers_202_with_id_token_and_status_url(alice, backup, target, drained):
    client, csrf = csrf_client(alice)
    response = start(client, csrf, backup_id=backup.id, target=target, confirm=target)
    assert response.status_code == 202, response.content
    data = response.json()
    op = Operation.objects.get(pk=data["id"])
    assert op.user_id == str(alice.pk) and op.username == "alice" and op.backup_id == backup.id
    assert data["status_url"] == f"/restore-progress/{op.id}/status/"
    assert data["progress_url"] == f"/restore-progress/{op.id}/"
    assert tokens.verify(data["token"], op.id).ok
    # The token works at once, without the session.
    assert Client().get(data["status_url"], HTTP_X_TEMP_TOKEN=data["token"]).json()["status"] == "queued"


def test_token_exists_before_the_work_is_queued(alice, backup, target, drained):
    seen = []

    @huey.signal(SIGNAL_ENQUEUED)
    def check(signal, task):
        seen.append((task.args[0], OperationToken.objects.filter(operation_id=task.args[0]).count()))

    try:
        client, csrf = csrf_client(alice)
        data = start(client, csrf, backup_id=backup.id, target=target, confirm=target).json()
    finally:
        huey.disconnect_signal(check)
    assert seen == [(data["id"], 1)]


def test_start_needs_the_typed_target_name(alice, backup, target, drained):
    client, csrf = csrf_client(alice)
    for wrong in ("", "note", "NOTES", "notes "[:-1] + "x"):
        response = start(client, csrf, backup_id=backup.id, target=target, confirm=wrong)
        assert response.status_code == 400 and response.json()["error"]["code"] == "not_confirmed"
    assert not Operation.objects.exists()


@pytest.mark.parametrize("body, status, code", [
    ({"target": "notes", "confirm": "notes"}, 400, "backup_required"),
    ({"backup_id": "bk_nope", "target": "notes", "confirm": "notes"}, 404, "backup_missing"),
    ({"backup_id": "BACKUP"}, 400, "target_required"),
    ({"backup_id": "BACKUP", "target": "nowhere", "confirm": "nowhere"}, 400, "target_unknown"),
])
def test_bad_requests_are_refused_with_a_sentence(alice, backup, target, body, status, code):
    client, csrf = csrf_client(alice)
    body = {k: (backup.id if v == "BACKUP" else v) for k, v in body.items()}
    response = start(client, csrf, **body)
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert response.json()["error"]["message"].endswith(".")
    assert not Operation.objects.exists() and not OperationToken.objects.exists()


def test_wrong_kind_of_target_is_refused_before_anything_is_recorded(alice, backup, pg, drained):
    Target.objects.create(name="pgdb", url=pg.url("t_wrong_kind"))
    client, csrf = csrf_client(alice)
    response = start(client, csrf, backup_id=backup.id, target="pgdb", confirm="pgdb")
    assert response.status_code == 400 and response.json()["error"]["code"] == "wrong_target_kind"
    assert not Operation.objects.exists()


def test_busy_target_is_409(alice, backup, target, drained):
    client, csrf = csrf_client(alice)
    assert start(client, csrf, backup_id=backup.id, target=target, confirm=target).status_code == 202
    response = start(client, csrf, backup_id=backup.id, target=target, confirm=target)
    assert response.status_code == 409 and "already running" in response.json()["error"]["message"]


def test_start_without_csrf_is_refused(alice, backup, target):
    client, _ = csrf_client(alice)
    response = client.post("/api/restores/", {"backup_id": backup.id, "target": target, "confirm": target},
                           content_type="application/json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"
    assert not Operation.objects.exists()


def test_start_without_session_is_401_json_not_a_redirect(backup, target):
    response = Client().post("/api/restores/", {"backup_id": backup.id, "target": target, "confirm": target},
                             content_type="application/json")
    assert response.status_code == 401 and response.json()["session_expired"] is True
    assert "WWW-Authenticate" in response


def test_non_staff_cannot_restore(backup, target, django_user_model):
    eve = django_user_model.objects.create_user("eve", password="pw")
    client, csrf = csrf_client(eve)
    response = start(client, csrf, backup_id=backup.id, target=target, confirm=target)
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"


def test_personal_api_token_starts_a_restore_without_csrf(alice, backup, target, drained):
    from dbkeeper.access.api_tokens import create_token

    _, secret = create_token(alice, "ci")
    response = Client(enforce_csrf_checks=True).post(
        "/api/restores/", {"backup_id": backup.id, "target": target, "confirm": target},
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 202
    bad = Client().post("/api/restores/", {}, content_type="application/json", HTTP_AUTHORIZATION="Bearer dbk_nope")
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "api_token_invalid"
    assert bad["WWW-Authenticate"].startswith("Bearer ")


def test_the_operation_token_cannot_start_list_or_cancel(alice, backup, target, drained):
    client, csrf = csrf_client(alice)
    data = start(client, csrf, backup_id=backup.id, target=target, confirm=target).json()
    anonymous = Client()
    header = {"HTTP_X_TEMP_TOKEN": data["token"]}
    assert anonymous.post(f"/api/operations/{data['id']}/cancel/", **header).status_code == 401
    assert anonymous.get("/api/operations/", **header).status_code == 401
    assert anonymous.post("/api/restores/", {"backup_id": backup.id, "target": target, "confirm": target},
                          content_type="application/json", **header).status_code == 401
    assert anonymous.post(f"/api/operations/{data['id']}/token/", **header).status_code == 401
    assert Operation.objects.get().status == "queued"


def test_operations_list_and_cancel(alice, root, backup, target, drained, django_user_model):
    client, csrf = csrf_client(alice)
    data = start(client, csrf, backup_id=backup.id, target=target, confirm=target).json()
    listed = client.get("/api/operations/").json()["operations"]
    assert [o["id"] for o in listed] == [data["id"]]
    row = listed[0]
    assert row["can_cancel"] is True and row["source_name"] == "notes.sqlite3" and row["username"] == "alice"
    assert row["cancel_url"] == f"/api/operations/{data['id']}/cancel/" and row["events"]

    # Another staff member neither sees nor cancels it; a superuser does both.
    bob = django_user_model.objects.create_user("bob", password="pw", is_staff=True)
    bob_client, bob_csrf = csrf_client(bob)
    assert bob_client.get("/api/operations/").json()["operations"] == []
    response = bob_client.post(row["cancel_url"], HTTP_X_CSRFTOKEN=bob_csrf)
    assert response.status_code == 403
    root_client, root_csrf = csrf_client(root)
    assert [o["id"] for o in root_client.get("/api/operations/").json()["operations"]] == [data["id"]]

    assert client.post(row["cancel_url"]).status_code == 403  # no CSRF token
    response = client.post(row["cancel_url"], HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = client.post(row["cancel_url"], HTTP_X_CSRFTOKEN=csrf)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_finished"
    assert client.post("/api/operations/op_nope/cancel/", HTTP_X_CSRFTOKEN=csrf).status_code == 404


def test_new_progress_token_only_for_ones_own_operation(alice, root, backup, target, drained):
    client, csrf = csrf_client(alice)
    data = start(client, csrf, backup_id=backup.id, target=target, confirm=target).json()
    response = client.post(f"/api/operations/{data['id']}/token/", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 201
    fresh = response.json()["token"]
    assert fresh != data["token"] and tokens.verify(fresh, data["id"]).ok
    root_client, root_csrf = csrf_client(root)
    assert root_client.post(f"/api/operations/{data['id']}/token/", HTTP_X_CSRFTOKEN=root_csrf).status_code == 403


def test_targets_are_listed_and_added_by_superusers_only(alice, root, tmp_path, pg):
    client, csrf = csrf_client(alice)
    response = client.post("/api/targets/", {"name": "x", "url": f"sqlite:///{tmp_path}/x.db"},
                           content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 403
    root_client, root_csrf = csrf_client(root)

    def add(name, url):
        return root_client.post("/api/targets/", {"name": name, "url": url}, content_type="application/json",
                                HTTP_X_CSRFTOKEN=root_csrf)

    response = add("shop", pg.url("shop"))
    assert response.status_code == 201
    assert response.json()["display"] == pg.url("shop").replace(pg.url("shop").split("@")[0].split(":")[-1], "***")
    assert "s3cret" not in response.content.decode()
    assert add("shop", pg.url("other")).json()["error"]["code"] == "target_exists"
    assert add("bad name!", pg.url("x")).json()["error"]["code"] == "bad_target_name"
    assert add("nourl", "shop").json()["error"]["code"] == "bad_target_url"
    assert add("relative", "sqlite://relative.db").json()["error"]["code"] == "target_error"
    assert add("mysql", "mysql://u@h/db").status_code == 400
    listed = client.get("/api/targets/").json()["targets"]
    assert [t["name"] for t in listed] == ["shop"] and "s3cret" not in str(listed)
