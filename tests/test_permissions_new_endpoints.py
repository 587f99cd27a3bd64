"""The permission matrix over the endpoints that came after per-target
permissions: the Databases API, the Schedules API, retention preview and
prune, and health. For each endpoint and each permission, a user without
the one it needs gets 403 JSON and nothing changes (the databases on the
server, the schedules, the backups in storage), a user with it succeeds. A
permission on the target north shows and touches nothing of south in these
lists, pages and actions, even where north's server also holds south's
database. The command line's ``db drop``, ``schedule add``, ``prune`` and
``status`` refuse an ``--as`` user without the permission."""

import json

import pytest

from dbkeeper.access import permissions
from dbkeeper.backups import pruning, store
from dbkeeper.backups.models import Backup, PendingDeletion
from dbkeeper.cli import main
from dbkeeper.operations.models import Operation, PreRestoreCopy
from dbkeeper.operations.queue import huey
from dbkeeper.schedules import service as schedules
from dbkeeper.schedules.models import Schedule

from .backup_helpers import own_storage  # noqa: F401 (fixture)
from .builders import make_sqlite
from .permission_helpers import assert_refused, csrf_client, post, send, user_with

pytestmark = pytest.mark.django_db(transaction=True)

PERMS = permissions.PERMISSIONS
TARGETS = ("north", "south")
# The databases on the test server: each target's own, a pre-restore copy of each, a scratch copy of
# south's (a restore's, left over), one of no target.
DBS = {"north": "pm_north", "south": "pm_south", "north_pre": "pm_north__prerestore_20260101_000000",
       "south_pre": "pm_south__prerestore_20260101_000000",
       "south_scratch": "pm_south__dbk_scratch_op_1", "spare": "pm_spare"}
MADE = ("pm_new", "pm_renamed", "pm_copy")  # what the actions that succeed make


@pytest.fixture(scope="module", autouse=True)
def drop_the_databases(pg):
    """The databases are made once (see estate) and dropped when the module ends:
    the server is shared with the other test modules."""
    yield
    for name in (*DBS.values(), *MADE):
        pg.drop_db(name)


@pytest.fixture
def estate(pg, settings, tmp_path, own_storage):  # noqa: F811 (the fixture imported above)
    """Targets north and south (databases on the same server), each with a
    pre-restore copy, two stored backups (a policy keeps the newest), a
    schedule; and a spare database of no target."""
    present = pg.databases()
    for name in DBS.values():
        if name not in present:
            pg.create_db(name)
    for name in MADE:
        pg.drop_db(name)
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {t: pg.url(DBS[t]) for t in TARGETS}}
    found = {"storage": own_storage}
    for target in TARGETS:
        for age in (2, 1):
            backup = store.add_file(make_sqlite(tmp_path / f"{target}-{age}.sqlite3", rows=3),
                                    f"{target}-{age}.sqlite3", move=False)
            Backup.objects.filter(pk=backup.pk).update(target_spec=target, target_display=target,
                                                       database=DBS[target],
                                                       created_at=backup.created_at.replace(year=2020 - age))
        pruning.set_policy(target, {"keep_last": 1})
        found[f"{target}_schedule"] = schedules.create_schedule(
            {"name": f"nightly-{target}", "target": target, "cron": "0 3 * * *"}).id
        found[f"{target}_copy"] = PreRestoreCopy.objects.create(name=DBS[f"{target}_pre"], target_spec=target,
                                                                target_display=target).pk
    yield found
    huey.flush()
    for name in MADE:
        pg.drop_db(name)


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", password="pw-root")


def server_state(pg):
    """What an action could change: the databases, the operations, the
    copies, the schedules, the backups and the files in storage."""
    return {
        "databases": sorted(pg.databases()),
        "operations": Operation.objects.count(),
        "copies": sorted(PreRestoreCopy.objects.filter(dropped_at__isnull=True).values_list("name", flat=True)),
        "schedules": sorted(Schedule.objects.values_list("name", "target", "cron", "enabled")),
        "backups": sorted(Backup.objects.values_list("id", flat=True)),
    }


def stored_files(storage):
    return sorted(p.name for p in storage.rglob("*") if p.is_file())


# -- the endpoints ---------------------------------------------------------------------------------
# Each: the permission it needs and the request, on a target t (its database, copy and schedule).

def _db(t):
    return DBS[t]


ENDPOINTS = {
    "list databases": ("view", False, lambda c, k, e, t: c.get("/api/databases/")),
    "database facts": ("view", True, lambda c, k, e, t: c.get(f"/api/databases/{t}/{_db(t)}/")),
    "create database": ("manage_databases", True,
                        lambda c, k, e, t: post(c, k, "/api/databases/", target=t, name="pm_new")),
    "duplicate database": ("manage_databases", True, lambda c, k, e, t: post(
        c, k, f"/api/databases/{t}/{_db(t)}/duplicate/", name="pm_copy")),
    "rename database": ("manage_databases", True, lambda c, k, e, t: post(
        c, k, f"/api/databases/{t}/{DBS['spare']}/rename/", name="pm_renamed")),
    "drop database": ("manage_databases", True, lambda c, k, e, t: post(
        c, k, f"/api/databases/{t}/{_db(t)}/drop/", confirm=_db(t))),
    "undo a restore": ("manage_databases", True, lambda c, k, e, t: post(
        c, k, f"/api/databases/copies/{e[t + '_copy']}/undo/", confirm=_db(t))),
    "drop a pre-restore copy": ("manage_databases", True, lambda c, k, e, t: post(
        c, k, f"/api/databases/copies/{e[t + '_copy']}/drop/", confirm=DBS[t + "_pre"])),
    "list schedules": ("view", False, lambda c, k, e, t: c.get("/api/schedules/")),
    "schedule details": ("view", True, lambda c, k, e, t: c.get(f"/api/schedules/{e[t + '_schedule']}/")),
    "preview run times": ("view", False, lambda c, k, e, t: post(c, k, "/api/schedules/preview/",
                                                                  cron="0 3 * * *")),
    "add schedule": ("manage_schedules", True, lambda c, k, e, t: post(
        c, k, "/api/schedules/", name=f"weekly-{t}", target=t, cron="0 4 * * 0")),
    "change schedule": ("manage_schedules", True, lambda c, k, e, t: send(
        c, k, "PATCH", f"/api/schedules/{e[t + '_schedule']}/", enabled=False)),
    "remove schedule": ("manage_schedules", True, lambda c, k, e, t: send(
        c, k, "DELETE", f"/api/schedules/{e[t + '_schedule']}/")),
    "retention preview": ("backup", True, lambda c, k, e, t: c.get(f"/api/backups/retention/?target={t}")),
    "prune": ("manage_schedules", True, lambda c, k, e, t: post(c, k, "/api/backups/retention/prune/", target=t)),
    "health": ("view", True, lambda c, k, e, t: c.get(f"/api/health/?target={t}")),
}
# Without a target: the lists, and a prune and preview of every target.
WHOLE = {
    "retention preview of every target": ("backup", lambda c, k: c.get("/api/backups/retention/")),
    "prune every target": ("manage_schedules", lambda c, k: post(c, k, "/api/backups/retention/prune/")),
    "health of every target": ("view", lambda c, k: c.get("/api/health/")),
}
PAGES = ("/databases/", "/schedules/", "/dashboard/")


def allowed(needed, held):
    # Any permission on a target lets one see it.
    return held == needed or needed == "view"


@pytest.mark.parametrize("held", PERMS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_permission_matrix_of_the_new_endpoints(endpoint, held, estate, pg, django_user_model):
    needed, _on_target, call = ENDPOINTS[endpoint]
    user = user_with(django_user_model, held)  # a global permission
    client, csrf = csrf_client(user)
    before, files = server_state(pg), stored_files(estate["storage"])
    response = call(client, csrf, estate, "north")
    if allowed(needed, held):
        assert response.status_code in (200, 201, 202), (endpoint, held, response.content[:300])
    else:
        assert_refused(response, (endpoint, held))
        assert server_state(pg) == before, (endpoint, held)
        assert stored_files(estate["storage"]) == files, (endpoint, held)


def test_what_the_allowed_calls_did(estate, pg, django_user_model):
    """The matrix's successes really act (so its refusals, which change nothing, mean something)."""
    client, csrf = csrf_client(user_with(django_user_model, "manage_databases"))
    files = stored_files(estate["storage"])
    assert post(client, csrf, "/api/databases/", target="north", name="pm_new").status_code == 201
    assert post(client, csrf, f"/api/databases/north/{DBS['spare']}/rename/", name="pm_renamed").status_code == 200
    dropped = post(client, csrf, f"/api/databases/copies/{estate['north_copy']}/drop/", confirm=DBS["north_pre"])
    assert dropped.status_code == 200, dropped.content
    names = pg.databases()
    assert {"pm_new", "pm_renamed"} <= names and not {DBS["spare"], DBS["north_pre"]} & names
    client, csrf = csrf_client(user_with(django_user_model, "manage_schedules", name="sam"))
    pruned = post(client, csrf, "/api/backups/retention/prune/")
    assert pruned.status_code == 200 and len(pruned.json()["deleted"]) == 2  # the older backup of each target
    assert len(stored_files(estate["storage"])) < len(files)
    assert send(client, csrf, "DELETE", f"/api/schedules/{estate['north_schedule']}/").status_code == 200
    assert list(Schedule.objects.values_list("name", flat=True)) == ["nightly-south"]


def test_without_any_permission_every_new_endpoint_and_page_is_refused(estate, pg, django_user_model):
    user = user_with(django_user_model)
    client, csrf = csrf_client(user)
    before, files = server_state(pg), stored_files(estate["storage"])
    for endpoint, (_needed, _on_target, call) in ENDPOINTS.items():
        assert_refused(call(client, csrf, estate, "north"), endpoint)
    for endpoint, (_needed, call) in WHOLE.items():
        assert_refused(call(client, csrf), endpoint)
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 403 and "Not allowed" in response.content.decode(), page
    assert server_state(pg) == before and stored_files(estate["storage"]) == files


def test_a_prune_on_one_target_leaves_another_targets_unfinished_deletion_alone(estate, django_user_model):
    """A deletion an earlier prune left half done (its file gone, its row not
    yet) is finished by a prune of someone who may prune every target, not by
    one whose grant is on another target."""
    south = Backup.objects.filter(target_spec="south").order_by("created_at").first()
    PendingDeletion.objects.create(backup_id=south.id, storage=south.storage, storage_name=south.storage_name,
                                   reason="an earlier prune")
    client, csrf = csrf_client(user_with(django_user_model, "manage_schedules", "north"))
    pruned = post(client, csrf, "/api/backups/retention/prune/").json()
    assert pruned["finished"] == [] and [g["target"] for g in pruned["groups"]] == ["north"]
    assert Backup.objects.filter(pk=south.id).exists() and PendingDeletion.objects.count() == 1
    client, csrf = csrf_client(user_with(django_user_model, "manage_schedules", name="sam"))
    pruned = post(client, csrf, "/api/backups/retention/prune/").json()
    assert pruned["finished"] == [south.id] and not Backup.objects.filter(pk=south.id).exists()
    assert not PendingDeletion.objects.exists()


# -- one target, not the other ---------------------------------------------------------------------

# Requests on north's server that reach south's database or copy.
THROUGH_NORTH = {
    "facts of south's database": lambda c, k, e: c.get(f"/api/databases/north/{DBS['south']}/"),
    "duplicate south's database": lambda c, k, e: post(c, k, f"/api/databases/north/{DBS['south']}/duplicate/",
                                                       name="pm_copy"),
    "drop south's database": lambda c, k, e: post(c, k, f"/api/databases/north/{DBS['south']}/drop/",
                                                  confirm=DBS["south"]),
    "duplicate south's copy": lambda c, k, e: post(c, k, f"/api/databases/north/{DBS['south_pre']}/duplicate/",
                                                   name="pm_copy", mode="stream"),
    "create a database named as south's": lambda c, k, e: post(c, k, "/api/databases/", target="north",
                                                                name=DBS["south"]),
    "duplicate north's database as south's": lambda c, k, e: post(
        c, k, f"/api/databases/north/{DBS['north']}/duplicate/", name=DBS["south"]),
    "rename a database as south's copy": lambda c, k, e: post(c, k, f"/api/databases/north/{DBS['spare']}/rename/",
                                                              name=DBS["south_pre"]),
    "facts of south's scratch copy": lambda c, k, e: c.get(f"/api/databases/north/{DBS['south_scratch']}/"),
    "rename south's copy": lambda c, k, e: post(c, k, f"/api/databases/north/{DBS['south_pre']}/rename/",
                                                name="pm_renamed"),
    "drop south's copy": lambda c, k, e: post(c, k, f"/api/databases/north/{DBS['south_pre']}/drop/",
                                              confirm=DBS["south_pre"]),
    "move north's schedule to south": lambda c, k, e: send(c, k, "PATCH", f"/api/schedules/{e['north_schedule']}/",
                                                           target="south"),
}


def _shows_nothing_of_south(text, what):
    assert "south" not in text, (what, text[text.find("south") - 200:text.find("south") + 100])


@pytest.mark.parametrize("held", PERMS)
def test_a_permission_on_north_acts_on_and_shows_nothing_of_south(held, estate, pg, django_user_model):
    user = user_with(django_user_model, held, "north")
    client, csrf = csrf_client(user)
    before, files = server_state(pg), stored_files(estate["storage"])
    for endpoint, (_needed, on_target, call) in ENDPOINTS.items():
        if on_target:
            assert_refused(call(client, csrf, estate, "south"), endpoint)
    for endpoint, call in THROUGH_NORTH.items():
        assert_refused(call(client, csrf, estate), endpoint)
    assert server_state(pg) == before and stored_files(estate["storage"]) == files

    # The lists and pages show north, and nothing of south.
    databases = client.get("/api/databases/").json()
    names = {db["name"] for server in databases["servers"] for db in server["databases"]}
    assert DBS["north"] in names and DBS["spare"] in names
    (north,) = [db for server in databases["servers"] for db in server["databases"] if db["name"] == DBS["north"]]
    assert [c["name"] for c in north["copies"]] == [DBS["north_pre"]]
    _shows_nothing_of_south(json.dumps(databases), "databases list")
    schedules_list = client.get("/api/schedules/").json()["schedules"]
    assert [s["name"] for s in schedules_list] == ["nightly-north"]
    health = client.get("/api/health/").json()
    assert [t["target"] for t in health["targets"]] == ["north"]
    _shows_nothing_of_south(json.dumps(health), "health")
    preview = client.get("/api/backups/retention/")
    if held == "backup":
        assert [g["target"] for g in preview.json()["groups"]] == ["north"]
        _shows_nothing_of_south(preview.content.decode(), "retention preview")
    else:
        assert_refused(preview, "retention preview")
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 200, page
        text = response.content.decode()
        assert "north" in text, page
        _shows_nothing_of_south(text, page)

    # On north, what ``held`` allows succeeds (each from a clean slate: an operation holds its database).
    for endpoint, (needed, on_target, call) in ENDPOINTS.items():
        response = call(client, csrf, estate, "north")
        if allowed(needed, held):
            assert response.status_code in (200, 201, 202), (endpoint, held, response.content[:300])
        else:
            assert_refused(response, endpoint)
        huey.flush()
        Operation.objects.all().delete()
    if held == "manage_schedules":
        # Its prune on every target deleted north's older backup only.
        left = Backup.objects.values_list("target_spec", flat=True)
        assert sorted(left) == ["north", "south", "south"]


# -- the command line ------------------------------------------------------------------------------

def test_the_command_line_refuses_an_as_user_without_the_permission(estate, pg, root, django_user_model, capsys):
    user_with(django_user_model, "view", "north")
    before, files = server_state(pg), stored_files(estate["storage"])

    def refused(argv, sentence):
        assert main(["--as", "ann", *argv], configure=False) == 1, argv
        assert sentence in capsys.readouterr().err, argv

    refused(["db", "drop", "north", DBS["north"], "--yes", "--queue"],
            "You may not manage the databases of the target north.")
    refused(["schedule", "add", "weekly", "--target", "north", "--cron", "0 4 * * 0"],
            "You may not manage backup schedules.")
    refused(["prune"], "You may not manage backup schedules.")
    refused(["prune", "--target", "south"], "You may not manage the backup schedules of the target south.")
    refused(["schedule", "runs", "nightly-south"], "You may not see the target south.")
    assert main(["--as", "ann", "status", "--target", "south"], configure=False) == 3
    assert "You may not see the target south." in capsys.readouterr().err
    assert main(["--as", "ann", "status", "--json"], configure=False) in (0, 1, 2)  # its exit code: the health
    assert [t["target"] for t in json.loads(capsys.readouterr().out)["targets"]] == ["north"]
    assert server_state(pg) == before and stored_files(estate["storage"]) == files

    # With the permissions on north: north only, never south through it.
    for perm in ("manage_databases", "manage_schedules"):
        assert main(["grant", "ann", perm, "--target", "north"], configure=False) == 0
    capsys.readouterr()
    refused(["db", "drop", "north", DBS["south"], "--yes", "--queue"],
            "You may not manage the databases of the target south.")
    refused(["db", "drop", "south", DBS["south"], "--yes", "--queue"],
            "You may not manage the databases of the target south.")
    refused(["schedule", "add", "weekly", "--target", "south", "--cron", "0 4 * * 0"],
            "You may not manage the backup schedules of the target south.")
    assert server_state(pg) == before
    assert main(["--as", "ann", "schedule", "add", "weekly", "--target", "north", "--cron", "0 4 * * 0"],
                configure=False) == 0
    capsys.readouterr()
    assert main(["--as", "ann", "prune", "--json"], configure=False) == 0
    assert [g["target"] for g in json.loads(capsys.readouterr().out)["groups"]] == ["north"]
    assert sorted(Backup.objects.values_list("target_spec", flat=True)) == ["north", "south", "south"]
    assert main(["--as", "ann", "db", "drop", "north", DBS["north"], "--yes", "--queue"], configure=False) == 0
    op = Operation.objects.get()
    assert (op.username, op.kind, op.target_spec) == ("ann", "drop", "north")
    # The first superuser, the default, sees every target.
    capsys.readouterr()
    assert main(["status", "--json"], configure=False) in (0, 1, 2)
    assert [t["target"] for t in json.loads(capsys.readouterr().out)["targets"]] == ["north", "south"]
