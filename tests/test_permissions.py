"""Per-target permissions: the matrix over HTTP (for each endpoint and each
permission, a user without the one it needs gets 403 JSON and nothing
changes, a user with it succeeds), a grant on one target that shows nothing
of another, group grants, superusers, plain staff, and the command line's
``grant | revoke | grants`` and ``--as``."""

import base64
import json

import pytest
from django.contrib.auth.models import Group
from django.db import connections
from django.test.utils import CaptureQueriesContext

from dbkeeper.access import grants, permissions
from dbkeeper.access.grants import TargetGrant
from dbkeeper.audit.models import AuditEntry
from dbkeeper.backups import store
from dbkeeper.backups.models import Backup
from dbkeeper.cli import main
from dbkeeper.operations.models import Operation, PreRestoreCopy
from dbkeeper.operations.queue import huey
from dbkeeper.targets.models import Target

from .builders import make_sqlite
from .permission_helpers import csrf_client, user_with

pytestmark = pytest.mark.django_db(transaction=True)

PERMS = permissions.PERMISSIONS


@pytest.fixture(autouse=True)
def drained():
    """Queued tasks are removed afterwards (no worker runs here)."""
    yield
    huey.flush()


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", password="pw-root")


@pytest.fixture
def site(tmp_path):
    """Two SQLite targets, a and b, each with a stored backup made of it, and an uploaded backup of no target."""
    found = {}
    for name in ("a", "b"):
        make_sqlite(tmp_path / f"{name}.sqlite3", rows=10, value=name)
        Target.objects.create(name=name, url=f"sqlite:///{tmp_path / f'{name}.sqlite3'}")
        backup = store.add_file(make_sqlite(tmp_path / f"{name}-backup.sqlite3", rows=5), f"{name}.sqlite3",
                                move=False)
        Backup.objects.filter(pk=backup.pk).update(target_spec=name, target_display=name, database=name)
        found[name] = Backup.objects.get(pk=backup.pk)
    found["upload"] = store.add_file(make_sqlite(tmp_path / "upload.sqlite3", rows=3), "upload.sqlite3", move=False)
    found["dir"] = tmp_path
    return found


def own_operation(user, target="a", kind=Operation.Kind.RESTORE):
    return Operation.objects.create(kind=kind, user_id=str(user.pk), username=user.get_username(),
                                    target_spec=target, target_display=target, source_name="x",
                                    lock_key=f"test:{Operation.objects.count()}")


# -- the matrix ------------------------------------------------------------------------------------
# Each endpoint: the permission it needs, the request, and what it would change (read before and after).

def _post(client, csrf, address, **body):
    return client.post(address, body, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)


ENDPOINTS = {
    "start restore": ("restore", lambda c, t, s, u: _post(c, t, "/api/restores/", backup_id=s["a"].id, target="a",
                                                           confirm="a"),
                      lambda s: Operation.objects.count()),
    "restore plan": ("restore", lambda c, t, s, u: c.get(f"/api/targets/a/plan/?backup={s['a'].id}"), None),
    "start backup": ("backup", lambda c, t, s, u: _post(c, t, "/api/backups/", target="a"),
                     lambda s: Operation.objects.count()),
    "verify backup": ("backup", lambda c, t, s, u: _post(c, t, f"/api/backups/{s['a'].id}/verify/"),
                      lambda s: Operation.objects.count()),
    "pin backup": ("backup", lambda c, t, s, u: _post(c, t, f"/api/backups/{s['a'].id}/pin/"),
                   lambda s: Backup.objects.get(pk=s["a"].id).pinned),
    "delete backup": ("backup", lambda c, t, s, u: _post(c, t, f"/api/backups/{s['a'].id}/delete/",
                                                         confirm=s["a"].id),
                      lambda s: Backup.objects.filter(pk=s["a"].id).exists()),
    "download backup": ("backup", lambda c, t, s, u: c.get(f"/api/backups/{s['a'].id}/download/"), None),
    "backup details": ("view", lambda c, t, s, u: c.get(f"/api/backups/{s['a'].id}/"), None),
    "add target": ("manage_targets", lambda c, t, s, u: _post(c, t, "/api/targets/", name="c",
                                                              url=f"sqlite:///{s['dir'] / 'c.sqlite3'}"),
                   lambda s: sorted(Target.objects.values_list("name", flat=True))),
    "list targets": ("view", lambda c, t, s, u: c.get("/api/targets/"), None),
    "list backups": ("view", lambda c, t, s, u: c.get("/api/backups/"), None),
    "list operations": ("view", lambda c, t, s, u: c.get("/api/operations/"), None),
    "cancel restore": ("restore", lambda c, t, s, u: c.post(f"/api/operations/{own_operation(u).id}/cancel/",
                                                            HTTP_X_CSRFTOKEN=t),
                       lambda s: Operation.objects.filter(status="cancelled").count()),
    "cancel backup": ("backup", lambda c, t, s, u: c.post(
        f"/api/operations/{own_operation(u, kind=Operation.Kind.BACKUP).id}/cancel/", HTTP_X_CSRFTOKEN=t),
        lambda s: Operation.objects.filter(status="cancelled").count()),
    "operation status": ("view", lambda c, t, s, u: c.get(f"/restore-progress/{own_operation(u).id}/status/"),
                         None),
    "new progress token": ("view", lambda c, t, s, u: c.post(f"/api/operations/{own_operation(u).id}/token/",
                                                             HTTP_X_CSRFTOKEN=t), None),
    "upload": ("restore", lambda c, t, s, u: c.post("/api/uploads/", headers={
        "Tus-Resumable": "1.0.0", "Upload-Length": "10", "X-CSRFToken": t,
        "Upload-Metadata": "filename " + base64.b64encode(b"x.sqlite3").decode()}),
        lambda s: __import__("dbkeeper.uploads.models", fromlist=["Upload"]).Upload.objects.count()),
}


def allowed(needed, held):
    # Any permission on a target lets one see it.
    return held == needed or needed == "view"


@pytest.mark.parametrize("held", PERMS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_permission_matrix(endpoint, held, site, django_user_model):
    needed, call, state = ENDPOINTS[endpoint]
    user = user_with(django_user_model, held)  # a global permission: a Django permission of the user
    client, csrf = csrf_client(user)
    before = state(site) if state else None
    response = call(client, csrf, site, user)
    if allowed(needed, held):
        assert response.status_code in (200, 201, 202), (endpoint, held, response.content[:300])
    else:
        assert response.status_code == 403, (endpoint, held, response.status_code)
        assert response["Content-Type"].startswith("application/json")
        error = response.json()["error"]
        assert error["code"] == "forbidden" and error["message"].startswith("You may not")
        if state:
            assert state(site) == before, (endpoint, held)


def test_a_user_without_any_permission_gets_403_everywhere_and_the_forbidden_page(site, django_user_model):
    user = user_with(django_user_model)
    client, csrf = csrf_client(user)
    for endpoint, (_needed, call, _state) in ENDPOINTS.items():
        response = call(client, csrf, site, user)
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden", endpoint
    for page in ("/", "/backups/", "/operations/", "/uploads/new/"):
        response = client.get(page)
        assert response.status_code == 403 and "Not allowed" in response.content.decode(), page
    # Nothing was started, and the operations made for the cancel requests are still queued.
    assert set(Operation.objects.values_list("source_name", "status")) == {("x", "queued")}


# -- one target, not the other ---------------------------------------------------------------------

def test_restore_on_a_neither_restores_into_b_nor_shows_b_anywhere(site, django_user_model, root):
    ann = user_with(django_user_model, "restore", "a")
    client, csrf = csrf_client(ann)
    # Operations of ann's on b (from before the grant changed) and of root's on a.
    on_b = own_operation(ann, "b")
    own_operation(root, "a")

    refused = _post(client, csrf, "/api/restores/", backup_id=s_id(site, "a"), target="b", confirm="b")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "You may not restore into the target b."
    # b's backup cannot be restored into a either: ann may not see it.
    refused = _post(client, csrf, "/api/restores/", backup_id=s_id(site, "b"), target="a", confirm="a")
    assert refused.status_code == 403 and refused.json()["error"]["message"] == "You may not see the target b."
    assert Operation.objects.filter(target_spec="a", user_id=str(ann.pk)).count() == 0

    started = _post(client, csrf, "/api/restores/", backup_id=s_id(site, "a"), target="a", confirm="a")
    assert started.status_code == 202, started.content
    assert [t["name"] for t in client.get("/api/targets/").json()["targets"]] == ["a"]
    listed = {b["id"] for b in client.get("/api/backups/").json()["backups"]}
    assert listed == {site["a"].id, site["upload"].id}  # an upload belongs to no target
    assert client.get(f"/api/backups/{site['b'].id}/").status_code == 403
    operations = client.get("/api/operations/").json()["operations"]
    assert [o["id"] for o in operations] == [started.json()["id"]]  # not on b, not root's
    assert operations[0]["can_cancel"] is True
    assert client.get(f"/restore-progress/{on_b.id}/status/").status_code == 403
    assert client.get(f"/restore-progress/{on_b.id}/").status_code == 403
    page = client.get("/").content.decode()
    assert 'value="a"' in page and 'value="b"' not in page and site["b"].name not in page.replace(
        site["a"].name, "")
    # The backups page lists a's backup and the upload, not b's.
    backups_page = client.get("/backups/").content.decode()
    assert site["a"].id in backups_page and site["b"].id not in backups_page
    # A restore on a does not let ann back a up, nor add targets.
    assert _post(client, csrf, "/api/backups/", target="a").status_code == 403
    assert _post(client, csrf, "/api/targets/", name="c", url="sqlite:////tmp/c.db").status_code == 403


def s_id(site, name):
    return site[name].id


def test_prerestore_copies_of_other_targets_are_not_listed_to_the_cli_user(site, django_user_model, root, capsys):
    user_with(django_user_model, "manage_databases", "a")
    for target in ("a", "b"):
        PreRestoreCopy.objects.create(name=f"{target}_pre", target_spec=target, target_display=target)
    assert main(["--as", "ann", "prerestore", "list", "--json"], configure=False) == 0
    assert [c["name"] for c in json.loads(capsys.readouterr().out)] == ["a_pre"]
    assert main(["prerestore", "list", "--json"], configure=False) == 0  # the first superuser sees all
    assert sorted(c["name"] for c in json.loads(capsys.readouterr().out)) == ["a_pre", "b_pre"]
    assert main(["--as", "ann", "prerestore", "drop", "b_pre"], configure=False) == 1
    assert "You may not manage the databases of the target b." in capsys.readouterr().err
    assert PreRestoreCopy.objects.get(name="b_pre").dropped_at is None


# -- groups, superusers, staff ---------------------------------------------------------------------

def test_a_group_grant_applies_to_its_members_until_revoked(site, django_user_model):
    ops = Group.objects.create(name="ops")
    ann = user_with(django_user_model)
    ann.groups.add(ops)
    grants.grant("@ops", "backup", "b")
    client, csrf = csrf_client(ann)
    assert _post(client, csrf, "/api/backups/", target="b").status_code == 202
    assert _post(client, csrf, "/api/backups/", target="a").status_code == 403
    assert [t["name"] for t in client.get("/api/targets/").json()["targets"]] == ["b"]
    huey.flush()
    Operation.objects.all().delete()
    grants.revoke("@ops", "backup", "b")
    assert _post(client, csrf, "/api/backups/", target="b").status_code == 403
    # A global group permission (a Django permission of the group) covers every target.
    grants.grant("@ops", "backup")
    assert _post(client, csrf, "/api/backups/", target="a").status_code == 202
    assert ops.permissions.filter(codename="backup", content_type__app_label="dbkeeper").exists()


def test_superusers_have_every_permission_and_plain_staff_those_of_the_setting(site, root, alice, settings):
    assert all(permissions.has_perm(root, perm, "b") for perm in PERMS)
    client, csrf = csrf_client(root)
    assert _post(client, csrf, "/api/backups/", target="b").status_code == 202
    added = _post(client, csrf, "/api/targets/", name="c", url=f"sqlite:///{site['dir'] / 'c.sqlite3'}")
    assert added.status_code == 201
    assert {b["id"] for b in client.get("/api/backups/").json()["backups"]} == {
        site["a"].id, site["b"].id, site["upload"].id}
    # Plain staff: everything but managing targets, on every target.
    assert [p for p in PERMS if permissions.has_perm(alice, p, "b")] == [
        "view", "backup", "restore", "manage_databases", "manage_schedules"]
    assert _post(*csrf_client(alice), "/api/targets/", name="d", url="sqlite:////tmp/d.db").status_code == 403
    # Without staff permissions, plain staff need grants like anyone else.
    settings.DBKEEPER = {**settings.DBKEEPER, "STAFF_PERMISSIONS": []}
    permissions.forget(alice)
    client, csrf = csrf_client(alice)
    assert client.get("/api/targets/").status_code == 403
    assert client.get("/").status_code == 403
    grants.grant("alice", "view", "a")
    assert [t["name"] for t in client.get("/api/targets/").json()["targets"]] == ["a"]


def test_an_inactive_user_or_a_renamed_one_loses_its_grants(site, django_user_model):
    ann = user_with(django_user_model, "restore", "a")
    assert permissions.has_perm(ann, "restore", "a")
    ann.username = "ann2"
    ann.save()
    assert not permissions.has_perm(django_user_model.objects.get(pk=ann.pk), "restore", "a")
    ann.username, ann.is_active = "ann", False
    ann.save()
    assert not permissions.may_use(django_user_model.objects.get(pk=ann.pk))


def test_rights_are_read_once_per_user_object(site, django_user_model):
    ops = Group.objects.create(name="ops")
    ann = user_with(django_user_model, "restore", "a")
    ann.groups.add(ops)
    grants.grant("@ops", "view")
    ann = django_user_model.objects.get(pk=ann.pk)
    with CaptureQueriesContext(connections["default"]) as queries:
        for _ in range(20):
            assert permissions.has_perm(ann, "restore", "a") and not permissions.has_perm(ann, "restore", "b")
            assert permissions.visible_targets(ann, ["a", "b"]) == ["a", "b"]
    # One query for the Django permissions and groups, one for the grants (here the same database).
    assert len(queries) == 2


def test_refusal_sentences_are_whole_and_translatable():
    from dbkeeper.messages import Message

    for perm in PERMS:
        sentence = permissions.refusal(perm, "x").sentence
        assert sentence.template == permissions.REFUSED_ON_TARGET[perm] and set(sentence.params) == {"target"}
        assert permissions.refusal(perm).sentence.params == {}
        assert isinstance(sentence, Message)


# -- grant, revoke, grants, --as -------------------------------------------------------------------

def test_grant_revoke_and_grants_on_the_command_line_are_audited(site, root, django_user_model, capsys):
    user_with(django_user_model)
    Group.objects.create(name="ops")
    assert main(["grant", "ann", "restore", "--target", "a"], configure=False) == 0
    assert main(["grant", "@ops", "view"], configure=False) == 0
    assert "granted view on every target to @ops" in capsys.readouterr().out
    assert main(["grants", "--json"], configure=False) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["holder"], r["permission"], r["target"]) for r in rows] == [("@ops", "view", None),
                                                                           ("ann", "restore", "a")]
    granted = AuditEntry.objects.filter(action="permission.grant").order_by("number")
    assert [(e.username, e.method, e.target, e.details["holder"], e.details["permission"]) for e in granted] == [
        ("root", "cli", "a", "ann", "restore"), ("root", "cli", "", "@ops", "view")]
    assert main(["revoke", "ann", "restore", "--target", "a"], configure=False) == 0
    assert not TargetGrant.objects.exists()
    revoked = AuditEntry.objects.get(action="permission.revoke")
    assert (revoked.username, revoked.details["holder"], revoked.target) == ("root", "ann", "a")


@pytest.mark.parametrize("argv, sentence", [
    (["grant", "nobody", "restore", "--target", "a"],
     "There is no user named nobody; create it first (dbkeeper user add nobody)."),
    (["grant", "@nogroup", "restore"], "There is no group named nogroup."),
    (["grant", "ann", "restore", "--target", "nowhere"], "There is no target named nowhere."),
    (["revoke", "ann", "backup", "--target", "a"], "ann does not hold backup on a; nothing was revoked."),
    (["--as", "ann", "grant", "ann", "restore"], "Only superusers may grant or revoke permissions."),
    (["--as", "ghost", "grant", "ann", "restore"], "There is no user named ghost to act as."),
])
def test_bad_grants_are_refused_with_a_sentence_and_change_nothing(argv, sentence, site, root, django_user_model,
                                                                   capsys):
    user_with(django_user_model)
    before = AuditEntry.objects.filter(action__startswith="permission.").count()
    assert main(argv, configure=False) == 1
    assert sentence in capsys.readouterr().err
    assert not TargetGrant.objects.exists()
    assert not django_user_model.objects.get(username="ann").user_permissions.exists()
    assert AuditEntry.objects.filter(action__startswith="permission.").count() == before


def test_an_unknown_permission_is_refused_by_the_parser(site, root, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["grant", "root", "drop_everything"], configure=False)
    assert exited.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_the_command_line_acts_as_the_user_named_with_as(site, root, django_user_model, capsys):
    user_with(django_user_model, "restore", "a")
    refused = main(["--as", "ann", "restore", "--backup", site["a"].id, "--target", "b", "--yes", "--queue"],
                   configure=False)
    assert refused == 1 and "You may not restore into the target b." in capsys.readouterr().err
    assert not Operation.objects.exists()
    assert main(["restore", "--as", "ann", "--backup", site["a"].id, "--target", "a", "--yes", "--queue"],
                configure=False) == 0
    op = Operation.objects.get()
    assert op.username == "ann" and capsys.readouterr().out.strip() == op.id
    start = AuditEntry.objects.get(action="restore.start")
    assert (start.username, start.method, start.target) == ("ann", "cli", "a")
    # Ann lists her own operations; by default the command acts as the first superuser.
    assert main(["--as", "ann", "operations", "--json"], configure=False) == 0
    assert [o["id"] for o in json.loads(capsys.readouterr().out)] == [op.id]
    assert main(["cancel", op.id], configure=False) == 0
    cancel = AuditEntry.objects.get(action="restore.cancel")
    assert cancel.username == "root"
    assert main(["--as", "ann", "target", "add", "c", f"sqlite:///{site['dir'] / 'c.sqlite3'}"],
                configure=False) == 1
    assert "You may not add, change or remove targets." in capsys.readouterr().err
    assert not Target.objects.filter(name="c").exists()
    # The audit log is for superusers on the command line too.
    assert main(["--as", "ann", "audit"], configure=False) == 1
    assert "Only superusers may read the audit log." in capsys.readouterr().err
    assert main(["audit", "verify"], configure=False) == 0
