"""The database manager on a real PostgreSQL server: the list, each action
(create, duplicate by template and streamed, rename, drop with its safety
backup, undo a restore and undo the undo, drop a pre-restore copy) and each
refusal, which changes nothing; the API's answers and the CLI."""

import json

import pytest
from django.test import Client

from dbkeeper.audit.models import AuditEntry
from dbkeeper.backups.models import Backup
from dbkeeper.databases import service
from dbkeeper.errors import DbkeeperError
from dbkeeper.operations import runner
from dbkeeper.operations import service as op_service
from dbkeeper.operations.models import Operation, PreRestoreCopy
from dbkeeper.operations.queue import huey

from .backup_helpers import own_storage  # noqa: F401 (fixture)
from .builders import dump_custom, make_pg_source
from .database_helpers import csrf_client, post, run, snap

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_storage")]


@pytest.fixture
def shop(pg, pg_dbname, settings):
    """A target ``shop`` for a small database; its copies and renamed twins are dropped afterwards."""
    make_pg_source(pg, pg_dbname, rows=300)
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {"shop": pg.url(pg_dbname)}}
    made = []
    yield pg_dbname, made
    huey.flush()
    for name in made:
        pg.drop_db(name)


def audit_actions():
    return list(AuditEntry.objects.order_by("number").values_list("action", "outcome"))


def test_the_list_shows_each_database_its_facts_backups_and_copies(pg, shop):
    name, _ = shop
    session = pg.connect(name)
    try:
        data = service.listing()
    finally:
        session.close()
    (server,) = [s for s in data["servers"] if "shop" in s["targets"]]
    rows = {db["name"]: db for db in server["databases"]}
    mine = rows[name]
    assert mine["target"] == "shop" and not mine["read_only"] and mine["owner"] == "postgres"
    assert mine["encoding"] == "UTF8" and mine["size"] > 0 and mine["connections"] >= 1
    assert mine["last_backup"] is None and mine["copies"] == []
    for protected in ("postgres", "template1", "template0"):
        assert rows[protected]["read_only"] and rows[protected]["read_only_reason"]
        assert rows[protected]["last_backup"] is None


def test_create_an_empty_database_with_owner_encoding_and_locale(pg, shop):
    name, made = shop
    new = name[:40] + "_new"
    made.append(new)
    with pg.connect() as conn:
        conn.execute("DROP ROLE IF EXISTS dbm_owner")
        conn.execute("CREATE ROLE dbm_owner NOLOGIN")
    facts = service.create_database("shop", new, owner="dbm_owner", encoding="UTF8", locale="C")
    assert (facts["owner"], facts["encoding"], facts["collate"], facts["ctype"]) == ("dbm_owner", "UTF8", "C", "C")
    assert snap(pg, new) == {}
    assert ("database.create", "succeeded") in audit_actions()
    # Refused, changing nothing: a name that exists, a role that does not, postgres, an empty name.
    for kwargs, code in (({"name": new}, "exists"), ({"name": new + "2", "owner": "nobody_here"}, "bad_request"),
                         ({"name": "postgres"}, "protected"), ({"name": " "}, "name_required"),
                         ({"name": "x" * 64}, "bad_name")):
        with pytest.raises(DbkeeperError) as refused:
            service.create_database("shop", **kwargs)
        assert refused.value.code == code, kwargs
    assert new + "2" not in pg.databases()
    with pytest.raises(DbkeeperError) as bad_locale:
        service.create_database("shop", new + "3", locale="xx_NOWHERE")
    assert bad_locale.value.code == "bad_request" and "xx_NOWHERE" in bad_locale.value.message
    assert new + "3" not in pg.databases()
    with pg.connect() as conn:
        conn.execute(f'DROP DATABASE "{new}"')
        conn.execute("DROP ROLE dbm_owner")


def test_duplicate_by_template_warns_of_the_open_session_then_ends_it(pg, shop):
    name, made = shop
    copy = name[:40] + "_copy"
    made.append(copy)
    before = snap(pg, name)
    session = pg.connect(name)
    try:
        with pytest.raises(service.SessionsOpen) as warned:
            service.start_duplicate("shop", name, copy)
        assert warned.value.sessions == 1 and "1 other session is connected" in warned.value.message
        assert Operation.objects.count() == 0 and copy not in pg.databases()
        op = run(service.start_duplicate("shop", name, copy, end_sessions=True).operation)
        assert op.status == "succeeded", op.error_message
        assert op.result["sessions_ended"] == 1 and op.result["name"] == copy
        with pytest.raises(Exception):
            session.execute("SELECT 1")  # it was ended
    finally:
        session.close()
    assert snap(pg, copy) == before == snap(pg, name)
    assert not [db for db in pg.databases() if "__dbk_scratch_" in db]
    actions = audit_actions()
    assert ("duplicate.start", "started") in actions and ("duplicate.end", "succeeded") in actions
    # A copy never replaces a database: a name that exists is refused.
    with pytest.raises(DbkeeperError) as exists:
        service.start_duplicate("shop", name, copy)
    assert exists.value.code == "exists"
    assert snap(pg, copy) == before


def test_streamed_duplicate_leaves_the_sessions_alone_and_copies_the_filestore(pg, shop, settings, tmp_path):
    name, made = shop
    copy = name[:40] + "_stream"
    made.append(copy)
    store = tmp_path / "filestore"
    (store / name / "ab").mkdir(parents=True)
    (store / name / "ab" / "abcdef").write_bytes(b"attachment")
    settings.DBKEEPER = {**settings.DBKEEPER, "ODOO_FILESTORE_DIR": str(store)}
    before = snap(pg, name)
    session = pg.connect(name)
    try:
        op = run(service.start_duplicate("shop", name, copy, mode="stream").operation)
        assert op.status == "succeeded", op.error_message
        assert session.execute("SELECT 1").fetchone() == (1,)  # still connected
    finally:
        session.close()
    assert snap(pg, copy) == before
    assert (store / copy / "ab" / "abcdef").read_bytes() == b"attachment"
    assert op.result["filestore"] is True


def test_rename_asks_about_the_sessions_and_refuses_a_targets_database(pg, shop):
    name, made = shop
    other, renamed = name[:40] + "_old", name[:40] + "_renamed"
    made.extend([other, renamed])
    pg.create_db(other)
    session = pg.connect(other)
    try:
        with pytest.raises(service.SessionsOpen) as warned:
            service.rename_database("shop", other, renamed)
        assert warned.value.sessions == 1
        assert other in pg.databases()
        done = service.rename_database("shop", other, renamed, end_sessions=True)
    finally:
        session.close()
    assert done == {"name": renamed, "previous_name": other, "sessions_ended": 1, "filestore": False}
    assert renamed in pg.databases() and other not in pg.databases()
    with pytest.raises(DbkeeperError) as refused:
        service.rename_database("shop", name, name + "_x")
    assert refused.value.code == "is_target" and name in pg.databases()
    with pytest.raises(DbkeeperError) as exists:
        service.rename_database("shop", renamed, name)
    assert exists.value.code == "exists" and renamed in pg.databases()


def test_drop_makes_a_safety_backup_first_and_says_which(pg, shop):
    name, made = shop
    victim = name[:40] + "_victim"
    made.append(victim)
    make_pg_source(pg, victim, rows=120)
    counts = {t: n for t, (n, _) in snap(pg, victim).items()}
    with pytest.raises(DbkeeperError) as unconfirmed:
        service.start_drop("shop", victim, confirm="wrong")
    assert unconfirmed.value.code == "not_confirmed" and victim in pg.databases()
    op = run(service.start_drop("shop", victim, confirm=victim).operation)
    assert op.status == "succeeded", op.error_message
    assert victim not in pg.databases()
    backup = Backup.objects.get(pk=op.result["backup_id"])
    assert (backup.database, backup.target_spec, backup.origin) == (victim, "shop", "before-drop")
    assert backup.tables == counts
    assert backup.id in op.rendered_message()
    actions = audit_actions()
    assert ("drop.start", "started") in actions and ("drop.end", "succeeded") in actions
    # The list shows it as the last backup of the target's server no more (the database is gone).
    assert victim not in {db["name"] for s in service.listing()["servers"] for db in s["databases"]}


def test_drop_without_a_safety_backup(pg, shop):
    name, made = shop
    victim = name[:40] + "_bare"
    made.append(victim)
    pg.create_db(victim)
    op = run(service.start_drop("shop", victim, confirm=victim, safety_backup=False).operation)
    assert op.status == "succeeded" and op.result["backup_id"] == "" and Backup.objects.count() == 0
    assert victim not in pg.databases()


def test_refused_drops_change_nothing(pg, shop):
    name, _ = shop
    for protected in ("postgres", "template1", "template0"):
        with pytest.raises(DbkeeperError) as refused:
            service.start_drop("shop", protected, confirm=protected)
        assert refused.value.code == "protected", protected
        assert protected in refused.value.message
    # A database with an operation running (a restore holds its lock).
    target = service.database_target(service._pg_target("shop", None), name)
    busy = Operation.objects.create(kind="restore", status="running", lock_key=target.lock_key(), target_spec="shop")
    with pytest.raises(DbkeeperError) as refused:
        service.start_drop("shop", name, confirm=name)
    assert refused.value.code == "target_busy" and busy.id in refused.value.message
    with pytest.raises(DbkeeperError) as missing:
        service.start_drop("shop", "no_such_db", confirm="no_such_db")
    assert missing.value.code == "not_found"
    assert name in pg.databases() and Operation.objects.count() == 1


def restore_into(pg, tmp_path, name, rows, value):
    """Restore a dump with ``rows`` rows into ``name`` (the target shop); returns the pre-restore copy."""
    source = name[:30] + "_src"
    make_pg_source(pg, source, rows=rows, value=value)
    dump = tmp_path / f"{value}.dump"
    dump_custom(pg, source, dump)
    pg.drop_db(source)
    op = op_service.create_restore(str(dump), "shop")
    runner.run(op.id)
    op.refresh_from_db()
    assert op.status == "succeeded", op.error_message
    return PreRestoreCopy.objects.get(operation=op)


def test_undo_a_restore_and_undo_the_undo(pg, shop, tmp_path):
    name, _ = shop
    original = snap(pg, name)
    copy = restore_into(pg, tmp_path, name, rows=50, value="restored")
    restored = snap(pg, name)
    assert restored != original and snap(pg, copy.name) == original
    with pytest.raises(DbkeeperError) as unconfirmed:
        service.start_undo(copy.name, confirm="nope")
    assert unconfirmed.value.code == "not_confirmed" and snap(pg, name) == restored

    undo = run(service.start_undo(copy.name, confirm=name).operation)
    assert undo.status == "succeeded", undo.error_message
    assert snap(pg, name) == original
    copy.refresh_from_db()
    assert copy.dropped_at is not None and copy.name not in pg.databases()
    kept = PreRestoreCopy.objects.get(operation=undo)
    assert kept.dropped_at is None and snap(pg, kept.name) == restored

    again = run(service.start_undo(kept.pk, confirm=name).operation)
    assert again.status == "succeeded", again.error_message
    assert snap(pg, name) == restored
    last = PreRestoreCopy.objects.get(operation=again)
    assert snap(pg, last.name) == original
    listed = [db for s in service.listing()["servers"] for db in s["databases"] if db["name"] == name][0]
    assert [c["name"] for c in listed["copies"]] == [last.name] and listed["copies"][0]["size"] > 0
    assert ("undo.end", "succeeded") in audit_actions()


def test_drop_a_copy_asks_for_its_name(pg, shop, tmp_path):
    name, _ = shop
    copy = restore_into(pg, tmp_path, name, rows=20, value="new")
    with pytest.raises(DbkeeperError) as refused:
        service.drop_copy(copy.name, confirm=name)
    assert refused.value.code == "not_confirmed" and copy.name in pg.databases()
    service.drop_copy(copy.pk, confirm=copy.name)
    assert copy.name not in pg.databases()
    copy.refresh_from_db()
    assert copy.dropped_at is not None
    assert ("database.drop_copy", "succeeded") in audit_actions()


def test_prerestore_drop_on_the_command_line_asks_too(pg, shop, tmp_path, capsys):
    from dbkeeper.cli import main

    name, _ = shop
    copy = restore_into(pg, tmp_path, name, rows=20, value="cli")
    assert main(["prerestore", "drop", copy.name], configure=False) == 1
    assert "--yes" in capsys.readouterr().err and copy.name in pg.databases()
    assert main(["db", "drop-copy", copy.name, "--yes"], configure=False) == 0
    assert copy.name not in pg.databases()


def test_cli_lists_and_duplicates(pg, shop, capsys):
    from dbkeeper.cli import main

    name, made = shop
    copy = name[:40] + "_cli"
    made.append(copy)
    assert main(["db", "list", "--json"], configure=False) == 0
    data = json.loads(capsys.readouterr().out)
    assert name in {db["name"] for s in data["servers"] for db in s["databases"]}
    assert main(["db", "duplicate", "shop", name, copy, "--yes"], configure=False) == 0
    assert snap(pg, copy) == snap(pg, name)
    assert main(["db", "drop", "shop", copy, "--yes", "--no-backup"], configure=False) == 0
    assert copy not in pg.databases()
    assert main(["db", "drop", "shop", "postgres", "--yes"], configure=False) == 1
    assert "postgres" in capsys.readouterr().err


# -- the API ---------------------------------------------------------------------

def test_api_list_duplicate_with_the_session_count_and_drop(pg, shop, alice):
    name, made = shop
    copy = name[:40] + "_api"
    made.append(copy)
    client, csrf = csrf_client(alice)
    listed = client.get("/api/databases/").json()
    assert name in {db["name"] for s in listed["servers"] for db in s["databases"]}
    assert client.get("/databases/").status_code == 200
    session = pg.connect(name)
    try:
        facts = client.get(f"/api/databases/shop/{name}/").json()
        assert facts["connections"] == 1
        warned = post(client, csrf, f"/api/databases/shop/{name}/duplicate/", name=copy)
        assert warned.status_code == 409 and warned.json()["sessions"] == 1
        assert warned.json()["error"]["code"] == "sessions_open"
        started = post(client, csrf, f"/api/databases/shop/{name}/duplicate/", name=copy, end_sessions=True)
        assert started.status_code == 202, started.content
        data = started.json()
        runner.run(data["id"])
        status = Client().get(data["status_url"], HTTP_X_TEMP_TOKEN=data["token"]).json()
        assert status["status"] == "succeeded" and status["finished"]
    finally:
        session.close()
    assert snap(pg, copy) == snap(pg, name)
    refused = post(client, csrf, f"/api/databases/shop/{copy}/drop/", confirm="nope")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "not_confirmed"
    protected = post(client, csrf, "/api/databases/shop/postgres/drop/", confirm="postgres")
    assert protected.status_code == 400 and protected.json()["error"]["code"] == "protected"
    dropped = post(client, csrf, f"/api/databases/shop/{copy}/drop/", confirm=copy, safety_backup=False)
    assert dropped.status_code == 202
    runner.run(dropped.json()["id"])
    assert copy not in pg.databases()
    created = post(client, csrf, "/api/databases/", target="shop", name=copy)
    assert created.status_code == 201 and created.json()["name"] == copy
    renamed = post(client, csrf, f"/api/databases/shop/{copy}/rename/", name=copy + "_r")
    made.append(copy + "_r")
    assert renamed.status_code == 200 and copy + "_r" in pg.databases()


def test_a_rename_with_an_open_session_asks_first_on_the_api_and_the_command_line(pg, shop, alice, capsys):
    from dbkeeper.cli import main

    name, made = shop
    other, api_name, cli_name = name[:40] + "_ses", name[:40] + "_sesapi", name[:40] + "_sescli"
    made.extend([other, api_name, cli_name])
    pg.create_db(other)
    client, csrf = csrf_client(alice)
    session = pg.connect(other)
    try:
        asked = post(client, csrf, f"/api/databases/shop/{other}/rename/", name=api_name)
        assert asked.status_code == 409 and asked.json()["sessions"] == 1
        assert asked.json()["error"]["code"] == "sessions_open"
        assert other in pg.databases() and api_name not in pg.databases()
    finally:
        session.close()
    assert post(client, csrf, f"/api/databases/shop/{other}/rename/", name=api_name).status_code == 200
    session = pg.connect(api_name)
    try:
        # Not a terminal and no --yes: the question cannot be asked, so nothing is renamed.
        assert main(["db", "rename", "shop", api_name, cli_name], configure=False) == 1
        assert "--yes" in capsys.readouterr().err and api_name in pg.databases()
        assert main(["db", "rename", "shop", api_name, cli_name, "--yes"], configure=False) == 0
    finally:
        session.close()
    assert f"renamed {api_name} to {cli_name}" in capsys.readouterr().out
    assert cli_name in pg.databases() and api_name not in pg.databases()

def test_api_refuses_who_may_not(pg, shop, django_user_model):
    name, _ = shop
    clerk = django_user_model.objects.create_user("clerk", password="pw-clerk")
    client, csrf = csrf_client(clerk)
    assert client.get("/api/databases/").status_code == 403
    refused = post(client, csrf, f"/api/databases/shop/{name}/drop/", confirm=name)
    assert refused.status_code == 403 and "error" in refused.json()
    assert name in pg.databases() and Operation.objects.count() == 0


def test_undo_a_sqlite_restore_and_list_the_file(tmp_path, settings):
    from .builders import make_sqlite
    from .dbsnapshot import sqlite_snapshot

    live, backup = tmp_path / "notes.sqlite3", tmp_path / "backup.sqlite3"
    make_sqlite(live, rows=10, value="old")
    make_sqlite(backup, rows=25, value="new")
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {"notes": f"sqlite:///{live}"}}
    before, after = sqlite_snapshot(live), sqlite_snapshot(backup)
    op = op_service.create_restore(str(backup), "notes")
    runner.run(op.id)
    copy = PreRestoreCopy.objects.get(operation=op)
    assert sqlite_snapshot(live) == after
    (listed,) = service.listing()["sqlite"]
    assert listed["target"] == "notes" and listed["size"] == live.stat().st_size
    assert [c["name"] for c in listed["copies"]] == [copy.name]
    with pytest.raises(DbkeeperError):
        service.start_undo(copy.name, confirm=str(live))  # a file is confirmed by its target's name
    undo = run(service.start_undo(copy.name, confirm="notes").operation)
    assert undo.status == "succeeded", undo.error_message
    assert sqlite_snapshot(live) == before
    kept = PreRestoreCopy.objects.get(operation=undo, dropped_at__isnull=True)
    assert sqlite_snapshot(kept.name) == after


def test_api_undo_and_drop_a_copy(pg, shop, tmp_path, alice):
    name, _ = shop
    original = snap(pg, name)
    copy = restore_into(pg, tmp_path, name, rows=30, value="api")
    client, csrf = csrf_client(alice)
    refused = post(client, csrf, f"/api/databases/copies/{copy.pk}/undo/", confirm="shop")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "not_confirmed"
    started = post(client, csrf, f"/api/databases/copies/{copy.pk}/undo/", confirm=name)
    assert started.status_code == 202
    runner.run(started.json()["id"])
    assert snap(pg, name) == original
    kept = PreRestoreCopy.objects.get(dropped_at__isnull=True)
    assert post(client, csrf, f"/api/databases/copies/{kept.pk}/drop/", confirm="x").status_code == 400
    assert kept.name in pg.databases()
    dropped = post(client, csrf, f"/api/databases/copies/{kept.pk}/drop/", confirm=kept.name)
    assert dropped.status_code == 200 and dropped.json()["dropped"] is True
    assert kept.name not in pg.databases()
    gone = post(client, csrf, f"/api/databases/copies/{kept.pk}/drop/", confirm=kept.name)
    assert gone.status_code == 404


def test_a_copy_whose_worker_died_is_dropped_by_the_watchdog(pg, shop):
    from datetime import timedelta

    from django.utils import timezone

    from dbkeeper.operations import watchdog

    name, made = shop
    copy = name[:40] + "_lost"
    made.append(copy)
    op = service.start_duplicate("shop", name, copy).operation
    server = service._pg_target("shop", None)
    scratch = server.scratch(op.id)
    scratch.drop()
    with server.admin_connection() as conn:  # as far as a worker got before it died
        conn.execute(f'CREATE DATABASE "{scratch.name}" TEMPLATE "{name}"')
    Operation.objects.filter(pk=op.pk).update(status="running", scratch_name=scratch.name, started_at=timezone.now(),
                                              heartbeat_at=timezone.now() - timedelta(seconds=60))
    assert watchdog.sweep() == [op.id]
    op.refresh_from_db()
    assert op.status == "failed" and op.lock_key is None
    assert scratch.name not in pg.databases() and copy not in pg.databases()
    # The database is free again.
    assert run(service.start_duplicate("shop", name, copy).operation).status == "succeeded"


def test_the_list_leaves_out_the_databases_of_targets_the_user_may_not_see(pg, shop, settings, alice):
    from dbkeeper.access import grants

    name, made = shop
    other = name[:40] + "_hidden"
    made.append(other)
    pg.create_db(other)
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {"shop": pg.url(name), "secret": pg.url(other)}}
    assert other in {db["name"] for s in service.listing(alice)["servers"] for db in s["databases"]}
    # Staff lose their rights on every target; a grant lets alice see "shop" only.
    settings.DBKEEPER = {**settings.DBKEEPER, "STAFF_PERMISSIONS": []}
    grants.grant(alice.username, "view", "shop")
    alice = type(alice).objects.get(pk=alice.pk)  # rights are read once per user object
    (server,) = [s for s in service.listing(alice)["servers"] if "shop" in s["targets"]]
    assert server["targets"] == ["shop"]
    names = {db["name"] for db in server["databases"]}
    assert name in names and other not in names
