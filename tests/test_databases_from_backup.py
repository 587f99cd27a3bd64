"""Creating a database from a backup (a restore into a new name) on a real
PostgreSQL server: through the service, the API and the CLI the new database
holds the backup's data (checksums), belongs to the role a restore gives,
replaces nothing and keeps no pre-restore copy; every refusal says why and
changes nothing; a worker that dies leaves no scratch copy behind."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from dbkeeper.audit.models import AuditEntry
from dbkeeper.databases import service
from dbkeeper.errors import DbkeeperError
from dbkeeper.operations import runner, watchdog
from dbkeeper.operations.models import Operation, PreRestoreCopy
from dbkeeper.operations.queue import huey
from dbkeeper.targets.pghandover import owner_role_name

from .backup_helpers import make_backup, own_storage  # noqa: F401 (fixture)
from .builders import dump_custom, make_pg_source
from .database_helpers import csrf_client, post, run, snap
from .pgserver import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_storage")]


@pytest.fixture
def shop(pg, pg_dbname, settings):
    """A target ``shop`` with a stored backup of its database; the databases
    (and owner roles) a test creates are dropped afterwards."""
    make_pg_source(pg, pg_dbname, rows=300, value="shop")
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {"shop": pg.url(pg_dbname)}}
    op = make_backup("shop")
    assert op.status == "succeeded", op.error_message
    made = []
    yield pg_dbname, op.result["backup_id"], made
    huey.flush()
    with pg.connect() as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{owner_role_name(name)}"')


def owner_of(pg, name):
    with pg.connect() as conn:
        return conn.execute("SELECT pg_get_userbyid(datdba), r.rolsuper FROM pg_database d "
                            "JOIN pg_roles r ON r.oid = d.datdba WHERE datname = %s", (name,)).fetchone()


def leftovers(pg, name):
    return [db for db in pg.databases() if db.startswith(name[:20]) and ("__dbk_scratch_" in db or "__prerestore_" in db)]


def test_a_database_created_from_a_stored_backup_holds_its_data(pg, shop):
    name, backup_id, made = shop
    new = name[:40] + "_frombk"
    made.append(new)
    source = snap(pg, name)
    started = service.start_create_from_backup("shop", new, backup_id, token=True)
    op = started.operation
    assert started.token and op.kind == "restore" and op.database == new and op.target_spec == "shop"
    assert new in op.target_display and PASSWORD not in op.target_display
    # Locked by the server and the new name, not the target's own database.
    assert op.lock_key == service.database_target(service._pg_target("shop", None), new).lock_key()
    op = run(op)
    assert op.status == "succeeded", op.error_message
    assert snap(pg, new) == source == snap(pg, name)
    # Nothing was replaced: no pre-restore copy, no scratch copy left, the target's database untouched.
    assert op.result["prerestore"] is None and op.prerestore_name == "" and not PreRestoreCopy.objects.exists()
    assert op.result["database"] == new and f"The database {new} was created from" in op.rendered_message()
    assert leftovers(pg, name) == []
    # The owner a restore gives a database that did not exist: an unprivileged role, never the superuser.
    assert owner_of(pg, new) == (owner_role_name(new), False)
    start = AuditEntry.objects.get(action="restore.start", operation=op.id)
    end = AuditEntry.objects.get(action="restore.end", operation=op.id)
    assert (start.database, start.target, start.outcome) == (new, "shop", "started")
    assert (end.parent, end.outcome, end.database) == (start.number, "succeeded", new)
    events = [e.message for e in op.events.all()]
    assert "Putting the restored copy in place as %s." % new in events
    assert not any("pre-restore" in e or "previous database" in e for e in events)
    # Now it exists: a second one under the same name is refused.
    with pytest.raises(DbkeeperError) as again:
        service.start_create_from_backup("shop", new, backup_id)
    assert again.value.code == "exists"


def test_refusals_say_why_and_change_nothing(pg, shop, settings, tmp_path):
    name, backup_id, made = shop
    new = name[:40] + "_refused"
    made.append(new)
    pg.create_db(new + "_taken")
    made.append(new + "_taken")
    before = set(pg.databases())
    cases = [
        (("shop", name, backup_id), "exists"),
        (("shop", new + "_taken", backup_id), "exists"),
        (("shop", "postgres", backup_id), "protected"),
        (("shop", "template0", backup_id), "protected"),
        (("shop", "template1", backup_id), "protected"),
        (("shop", name + "__dbk_scratch_x", backup_id), "protected"),
        (("shop", " ", backup_id), "name_required"),
        (("shop", "x" * 64, backup_id), "bad_name"),
        (("shop", new, ""), "backup_required"),
        (("shop", new, "bk_nosuch"), "backup_missing"),
        (("", new, backup_id), "target_required"),
        (("nowhere", new, backup_id), "target_unknown"),
    ]
    for args, code in cases:
        with pytest.raises(DbkeeperError) as refused:
            service.start_create_from_backup(*args)
        assert refused.value.code == code, args
        assert refused.value.message, args
    assert "postgres" in str(_message(service.start_create_from_backup, "shop", "postgres", backup_id))
    # A SQLite target has no server to create a database on.
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {**settings.DBKEEPER["TARGETS"],
                                                          "notes": f"sqlite:///{tmp_path / 'notes.sqlite3'}"}}
    with pytest.raises(DbkeeperError) as sqlite:
        service.start_create_from_backup("notes", new, backup_id)
    assert sqlite.value.code == "wrong_target_kind"
    # A name an operation holds (another create of it, running).
    held = Operation.objects.create(kind="restore", status="running", target_spec="shop", database=new,
                                    lock_key=service.database_target(service._pg_target("shop", None), new).lock_key())
    with pytest.raises(DbkeeperError) as busy:
        service.start_create_from_backup("shop", new, backup_id)
    assert busy.value.code == "target_busy" and held.id in busy.value.message
    assert set(pg.databases()) == before and Operation.objects.filter(kind="restore").count() == 1
    assert not AuditEntry.objects.filter(action="restore.start").exists()


def _message(call, *args):
    try:
        call(*args)
    except DbkeeperError as exc:
        return exc.message
    raise AssertionError("not refused")


def test_a_database_made_meanwhile_under_the_name_is_never_replaced(pg, shop):
    name, backup_id, made = shop
    new = name[:40] + "_race"
    made.append(new)
    op = service.start_create_from_backup("shop", new, backup_id).operation
    make_pg_source(pg, new, rows=7, value="someone else's")
    theirs = snap(pg, new)
    op = run(op)
    assert op.status == "failed" and op.error_code == "exists"
    assert "No database was created; no database was changed." in [e.message for e in op.events.all()]
    assert snap(pg, new) == theirs and leftovers(pg, name) == [] and op.lock_key is None


def test_the_swap_itself_refuses_a_name_that_appeared(pg, shop):
    """Between the worker's check and the rename: PostgreSQL refuses the rename, nothing is replaced."""
    name, _, made = shop
    new = name[:40] + "_late"
    made.append(new)
    server = service._pg_target("shop", None)
    target = server.on_same_server(new)
    scratch = target.scratch("op_test_late")
    made.append(scratch.name)
    scratch.drop()
    scratch.create()
    pg.create_db(new)
    with pytest.raises(DbkeeperError) as refused:
        target.put_in_place(scratch)
    assert refused.value.code == "exists"
    assert scratch.name in pg.databases() and snap(pg, new) == {}
    scratch.drop()


def test_the_watchdog_drops_the_scratch_copy_of_a_create_whose_worker_died(pg, shop):
    name, backup_id, made = shop
    new = name[:40] + "_lost"
    made.append(new)
    op = service.start_create_from_backup("shop", new, backup_id).operation
    scratch = service._pg_target("shop", None).on_same_server(new).scratch(op.id)
    pg.create_db(scratch.name)  # as far as a worker got before it died
    Operation.objects.filter(pk=op.pk).update(status="running", scratch_name=scratch.name, started_at=timezone.now(),
                                              heartbeat_at=timezone.now() - timedelta(seconds=60))
    assert watchdog.sweep() == [op.id]
    op.refresh_from_db()
    assert op.status == "failed" and op.lock_key is None
    assert scratch.name not in pg.databases() and new not in pg.databases()
    # The name is free again.
    assert run(service.start_create_from_backup("shop", new, backup_id).operation).status == "succeeded"
    assert snap(pg, new) == snap(pg, name)


def test_it_needs_restore_and_manage_databases_on_the_target(pg, shop, alice, monkeypatch):
    from dbkeeper.access import permissions

    name, backup_id, made = shop
    new = name[:40] + "_perm"
    made.append(new)
    asked = []
    for refused_perm in ("restore", "manage_databases"):
        def require(user, perm, target=None, refused_perm=refused_perm):
            asked.append((perm, target))
            if perm == refused_perm:
                raise permissions.PermissionRefused("no", params={})
        monkeypatch.setattr(service, "require", require)
        with pytest.raises(DbkeeperError) as refused:
            service.start_create_from_backup("shop", new, backup_id, user=alice)
        assert refused.value.code == "forbidden"
    assert ("restore", "shop") in asked and ("manage_databases", "shop") in asked
    assert new not in pg.databases() and Operation.objects.filter(kind="restore").count() == 0


# -- the API and the CLI ------------------------------------------------------------

def test_api_creates_from_a_backup_and_refuses_with_a_sentence(pg, shop, alice, django_user_model):
    name, backup_id, made = shop
    new = name[:40] + "_api"
    made.append(new)
    client, csrf = csrf_client(alice)
    started = post(client, csrf, "/api/databases/", target="shop", name=new, from_backup=backup_id)
    assert started.status_code == 202, started.content
    data = started.json()
    assert data["kind"] == "restore" and data["token"] and data["progress_url"].endswith(f"{data['id']}/")
    runner.run(data["id"])
    status = Client().get(data["status_url"], HTTP_X_TEMP_TOKEN=data["token"]).json()
    assert status["status"] == "succeeded" and status["finished"], status
    assert snap(pg, new) == snap(pg, name)
    for body, code, http in (({"name": new, "from_backup": backup_id}, "exists", 400),
                             ({"name": "postgres", "from_backup": backup_id}, "protected", 400),
                             ({"name": new + "2", "from_backup": ""}, "backup_required", 400),
                             ({"name": new + "2", "from_backup": "bk_nosuch"}, "backup_missing", 404)):
        refused = post(client, csrf, "/api/databases/", target="shop", **body)
        assert refused.status_code == http and refused.json()["error"]["code"] == code, body
        assert refused.json()["error"]["message"]
    clerk = django_user_model.objects.create_user("clerk", password="pw-clerk")
    client, csrf = csrf_client(clerk)
    refused = post(client, csrf, "/api/databases/", target="shop", name=new + "2", from_backup=backup_id)
    assert refused.status_code == 403 and "error" in refused.json()
    assert new + "2" not in pg.databases() and Operation.objects.filter(kind="restore").count() == 1


def test_cli_creates_from_a_stored_backup_and_from_a_file(pg, shop, tmp_path, capsys):
    from dbkeeper.cli import main

    name, backup_id, made = shop
    new, other = name[:40] + "_cli", name[:40] + "_file"
    made.extend([new, other])
    assert main(["db", "create", "shop", new, "--from-backup", backup_id], configure=False) == 0
    assert f"The database {new} was created from" in capsys.readouterr().out
    assert snap(pg, new) == snap(pg, name)
    make_pg_source(pg, other + "_src", rows=40, value="file")
    made.append(other + "_src")
    dump = dump_custom(pg, other + "_src", tmp_path / "file.dump")
    assert main(["db", "create", "shop", other, "--from-file", str(dump)], configure=False) == 0
    assert snap(pg, other) == snap(pg, other + "_src")
    capsys.readouterr()
    assert main(["db", "create", "shop", new + "2", "--from-backup", backup_id, "--owner", "x"],
                configure=False) == 1
    assert "--owner" in capsys.readouterr().err
    assert main(["db", "create", "shop", new, "--from-backup", backup_id], configure=False) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["db", "create", "shop", new + "3", "--from-backup", backup_id, "--queue"], configure=False) == 0
    made.append(new + "3")
    op_id = capsys.readouterr().out.strip()
    op = Operation.objects.get(pk=op_id)
    assert (op.status, op.database) == ("queued", new + "3")
    assert run(op).status == "succeeded" and snap(pg, new + "3") == snap(pg, name)
    assert main(["operations", "--json"], configure=False) == 0
    assert op_id in {o["id"] for o in json.loads(capsys.readouterr().out)}
    assert new + "2" not in pg.databases()


def test_the_new_database_goes_to_the_targets_owner_role(pg, shop, settings):
    """As a restore gives it: the target's configured owner role when it names one."""
    name, backup_id, made = shop
    new = name[:40] + "_owned"
    made.append(new)
    with pg.connect() as conn:
        conn.execute("DROP ROLE IF EXISTS dbk_newdb_owner")
        conn.execute("CREATE ROLE dbk_newdb_owner NOLOGIN")
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {"shop": {"url": pg.url(name), "owner": "dbk_newdb_owner"}}}
    try:
        op = run(service.start_create_from_backup("shop", new, backup_id).operation)
        assert op.status == "succeeded", op.error_message
        assert owner_of(pg, new) == ("dbk_newdb_owner", False)
        with pg.connect(new) as conn:
            owners = {r[0] for r in conn.execute("SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c "
                                                 "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                                 "WHERE n.nspname IN ('public', 'sales')")}
        assert owners == {"dbk_newdb_owner"}
        assert snap(pg, new) == snap(pg, name)
    finally:
        pg.drop_db(new)
        with pg.connect() as conn:
            conn.execute("DROP ROLE IF EXISTS dbk_newdb_owner")
