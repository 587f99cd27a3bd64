"""The server's roles stored beside a backup and applied on request to a
server that lacks them: role by role, existing roles never changed, powerful
roles only when allowed, and nothing from the file run as SQL as it is."""

import json

import psycopg
import pytest

from dbkeeper.backups import roles
from dbkeeper.backups.models import Backup
from dbkeeper.cli import build_parser
from dbkeeper.errors import DbkeeperError

from .backup_helpers import make_backup, own_storage  # noqa: F401 (fixture)
from .builders import make_pg_source

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_storage")]

ROLES = ("bk_app", "bk_group", "bk_super", "bk_kept", "Bk Odd")


def drop_roles(pg):
    with pg.connect() as conn:
        for name in ROLES:
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def apply_cli(capsys, *argv):
    args = build_parser().parse_args(["roles", "apply", *argv])
    assert args.func(args) == 0
    return json.loads(capsys.readouterr().out)


def test_roles_are_applied_on_request_without_changing_existing_ones(pg, pg_dbname, capsys):
    make_pg_source(pg, pg_dbname, rows=10)
    drop_roles(pg)
    with pg.connect() as conn:
        conn.execute("CREATE ROLE bk_group NOLOGIN")
        conn.execute("CREATE ROLE bk_app LOGIN PASSWORD 'pw-app' CONNECTION LIMIT 4")
        conn.execute("GRANT bk_group TO bk_app")
        conn.execute("CREATE ROLE bk_super SUPERUSER LOGIN")
        conn.execute("CREATE ROLE bk_kept LOGIN CONNECTION LIMIT 5")
        conn.execute('CREATE ROLE "Bk Odd" NOLOGIN')
    try:
        op = make_backup(pg.url(pg_dbname), roles=True, role_passwords=True)
        assert op.status == "succeeded", op.error_message
        backup = Backup.objects.get()
        # "A new server": the roles are gone, but for one that exists there in another shape.
        drop_roles(pg)
        with pg.connect() as conn:
            conn.execute("CREATE ROLE bk_kept NOLOGIN CONNECTION LIMIT 7")
        done = apply_cli(capsys, backup.id, "--target", pg.url(pg_dbname))
        assert sorted(done["created"]) == ["Bk Odd", "bk_app", "bk_group"]
        assert "bk_kept" in done["existing"] and pg.user in done["existing"]
        assert done["refused"] == ["bk_super"] and done["memberships"] == 1
        with pg.connect() as conn:
            kept = conn.execute("SELECT rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname = 'bk_kept'").fetchone()
            app = conn.execute("SELECT rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname = 'bk_app'").fetchone()
            member = conn.execute("SELECT pg_has_role('bk_app', 'bk_group', 'MEMBER')").fetchone()[0]
            superuser = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'bk_super'").fetchone()
        assert kept == (False, 7)  # never changed
        assert app == (True, 4) and member and superuser is None
        # The password hash came along: the role signs in with its old password.
        psycopg.connect(host="127.0.0.1", port=pg.port, user="bk_app", password="pw-app", dbname=pg_dbname).close()
        # Asked for explicitly, the powerful role too; nothing twice.
        again = apply_cli(capsys, backup.id, "--target", pg.url(pg_dbname), "--allow-superuser")
        assert again["created"] == ["bk_super"] and again["refused"] == []
    finally:
        drop_roles(pg)


def test_only_the_shapes_pg_dumpall_writes_are_applied():
    text = "\n".join([
        "SET default_transaction_read_only = off;",
        "CREATE ROLE ok;",
        "ALTER ROLE ok WITH NOSUPERUSER LOGIN PASSWORD 'it''s; DROP DATABASE x';",
        "CREATE ROLE evil; DROP DATABASE shop;",
        "ALTER ROLE ok WITH LOGIN; DROP DATABASE shop;",
        "GRANT ok TO \"Some One\" GRANTED BY postgres;",
        "ALTER ROLE ok SET search_path TO public;",
    ])
    parsed = roles.parse(text)
    assert list(parsed.roles) == ["ok"] and parsed.roles["ok"].options.startswith("NOSUPERUSER LOGIN PASSWORD")
    assert parsed.grants == [("ok", "Some One", False)] and parsed.ignored == 3


def test_a_backup_without_roles_says_so(pg, pg_dbname, capsys):
    make_pg_source(pg, pg_dbname, rows=5)
    make_backup(pg.url(pg_dbname))
    args = build_parser().parse_args(["roles", "apply", Backup.objects.get().id, "--target", pg.url(pg_dbname)])
    with pytest.raises(DbkeeperError) as err:
        args.func(args)
    assert err.value.message == "This backup was made without the server's roles."


# -- on a restore: --apply-roles, the API's apply_roles -------------------------------------------

@pytest.fixture
def with_roles(pg, pg_dbname, settings):
    """A backup made with its server's roles; then "a new server": the roles
    are gone but for bk_kept, which exists there in another shape. Targets:
    ``trusting`` (trust "superuser") and ``plain`` for the same database."""
    make_pg_source(pg, pg_dbname, rows=10)
    drop_roles(pg)
    with pg.connect() as conn:
        conn.execute("CREATE ROLE bk_group NOLOGIN")
        conn.execute("CREATE ROLE bk_app LOGIN CONNECTION LIMIT 4")
        conn.execute("GRANT bk_group TO bk_app")
        conn.execute("CREATE ROLE bk_super SUPERUSER")
        conn.execute("CREATE ROLE bk_kept LOGIN CONNECTION LIMIT 5")
    with pg.connect(pg_dbname) as conn:
        conn.execute("ALTER TABLE public.items OWNER TO bk_app")
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {
        "trusting": {"url": pg.url(pg_dbname), "trust": "superuser"}, "plain": pg.url(pg_dbname)}}
    op = make_backup("trusting", roles=True)
    assert op.status == "succeeded", op.error_message
    with pg.connect(pg_dbname) as conn:
        conn.execute("ALTER TABLE public.items OWNER TO CURRENT_USER")
    drop_roles(pg)
    with pg.connect() as conn:
        conn.execute("CREATE ROLE bk_kept NOLOGIN CONNECTION LIMIT 7")
    yield Backup.objects.get()
    with pg.connect(pg_dbname) as conn:  # what the restore gave to the roles goes with them
        for name in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'bk\\_%'").fetchall():
            conn.execute(f'REASSIGN OWNED BY "{name[0]}" TO CURRENT_USER')
            conn.execute(f'DROP OWNED BY "{name[0]}"')
    drop_roles(pg)


def role_facts(pg):
    with pg.connect() as conn:
        return {name: (login, limit) for name, login, limit in conn.execute(
            "SELECT rolname, rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname LIKE 'bk\\_%'").fetchall()}


def test_a_restore_through_a_trusting_target_applies_the_roles_on_request(pg, pg_dbname, with_roles, capsys):
    from dbkeeper.audit.models import AuditEntry
    from dbkeeper.operations.models import Operation

    args = build_parser().parse_args(["restore", "--backup", with_roles.id, "--target", "trusting", "--yes",
                                      "--apply-roles"])
    assert args.func(args) == 0
    op = Operation.objects.filter(kind="restore").get()
    assert op.status == "succeeded" and op.apply_roles
    facts = role_facts(pg)
    assert facts["bk_app"] == (True, 4) and facts["bk_group"] == (False, -1)
    assert facts["bk_kept"] == (False, 7)  # existed: never changed
    assert "bk_super" not in facts  # powerful: left out, and said so
    events = [e.message for e in op.events.all()]
    assert "The backup's 2 roles were created on the server: bk_app, bk_group." in events
    assert any(e.startswith("Roles with SUPERUSER, REPLICATION or BYPASSRLS were left out: bk_super.") for e in events)
    with pg.connect(pg_dbname) as conn:
        # The restored table is owned by its role again, which now exists.
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'items'").fetchone()[0]
        member = conn.execute("SELECT pg_has_role('bk_app', 'bk_group', 'MEMBER')").fetchone()[0]
    assert owner == "bk_app" and member
    row = AuditEntry.objects.get(action="roles.apply")
    assert row.operation == op.id and sorted(row.details["created"]) == ["bk_app", "bk_group"]


def test_without_the_flag_no_role_is_created(pg, pg_dbname, with_roles):
    from dbkeeper.operations import runner, service

    op = service.record(service.plan_restore("trusting", backup_id=with_roles.id))
    runner.run(op.id)
    op.refresh_from_db()
    assert op.status == "succeeded", op.error_message
    assert set(role_facts(pg)) == {"bk_kept"}


def test_refusals_are_sentences_and_record_nothing(pg, pg_dbname, with_roles, alice):
    from django.test import Client

    from dbkeeper.operations.models import Operation
    from dbkeeper.operations import service

    client = Client()
    client.force_login(alice)
    answer = client.post("/api/restores/", {"backup_id": with_roles.id, "target": "plain", "confirm": "plain",
                                            "apply_roles": True}, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        'The backup\'s roles are applied only through a target that trusts its backups (trust "superuser"), and '
        f"{pg_dbname} does not. Restore without applying the roles, or apply them with dbkeeper roles apply.")
    bad = client.post("/api/restores/", {"backup_id": with_roles.id, "target": "trusting", "confirm": "trusting",
                                         "apply_roles": "perhaps"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"]["message"] == "The field apply_roles must be true or false."
    assert Operation.objects.filter(kind="restore").count() == 0 and set(role_facts(pg)) == {"bk_kept"}

    # A backup made without roles has none to apply.
    op = make_backup("trusting")
    without = Backup.objects.exclude(pk=with_roles.pk).get()
    with pytest.raises(DbkeeperError) as err:
        service.plan_restore("trusting", backup_id=without.id, apply_roles=True)
    assert err.value.message == "This backup was made without the server's roles, so there are none to apply."
    assert op.status == "succeeded" and Operation.objects.filter(kind="restore").count() == 0


def test_the_api_flag_applies_them(pg, pg_dbname, with_roles, alice, settings):
    from django.test import Client

    from dbkeeper.operations import runner
    from dbkeeper.operations.models import Operation

    client = Client()
    client.force_login(alice)
    answer = client.post("/api/restores/", {"backup_id": with_roles.id, "target": "trusting", "confirm": "trusting",
                                            "apply_roles": True}, content_type="application/json")
    assert answer.status_code == 202, answer.content
    op = Operation.objects.get(pk=answer.json()["id"])
    assert op.apply_roles
    if op.status == "queued":  # the test settings' queue runs tasks when asked
        runner.run(op.id)
    op.refresh_from_db()
    assert op.status == "succeeded", op.error_message
    assert {"bk_app", "bk_group", "bk_kept"} <= set(role_facts(pg))
