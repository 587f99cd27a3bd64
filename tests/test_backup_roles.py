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
