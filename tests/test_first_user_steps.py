"""What a new user of the standalone server trips over on the command line:
a second person to grant a permission to (the server mounts no Django admin,
so `dbkeeper user add` makes one), and a restore from the catalog that counts
the backup's tables."""

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.test import Client

from dbkeeper.access import permissions
from dbkeeper.audit.models import AuditEntry
from dbkeeper.backups.models import Backup
from dbkeeper.cli import build_parser, main
from dbkeeper.targets.models import Target

from .backup_helpers import make_backup, own_storage  # noqa: F401 (fixture)
from .builders import make_pg_source, make_sqlite

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", password="pw-root")


def test_a_user_made_on_the_command_line_signs_in_and_sees_only_what_is_granted(root, tmp_path, capsys):
    for name in ("shop", "books"):
        make_sqlite(tmp_path / f"{name}.sqlite3", rows=3)
        Target.objects.create(name=name, url=f"sqlite:///{tmp_path / f'{name}.sqlite3'}")
    assert main(["user", "add", "bob", "--email", "bob@example.com"], configure=False) == 0
    out, err = capsys.readouterr()
    password = dict(line.split(": ", 1) for line in out.strip().splitlines())["password"]
    assert "shown only once" in err and "dbkeeper grant bob view --target TARGET" in err
    bob = authenticate(username="bob", password=password)
    assert bob is not None and not bob.is_staff and not bob.is_superuser and bob.email == "bob@example.com"
    row = AuditEntry.objects.get(action="user.create")
    assert (row.username, row.method, row.details) == ("root", "cli", {"username": "bob", "staff": False})
    assert password not in str(row.details)
    # Nothing until granted; then view on shop only.
    assert not permissions.visible_targets(bob, ["shop", "books"])
    assert main(["grant", "bob", "view", "--target", "shop"], configure=False) == 0
    bob = get_user_model().objects.get(username="bob")
    assert list(permissions.visible_targets(bob, ["shop", "books"])) == ["shop"]
    client = Client()
    assert client.login(username="bob", password=password)
    answer = client.get("/api/targets/")
    assert answer.status_code == 200
    assert [t["name"] for t in answer.json()["targets"]] == ["shop"]


@pytest.mark.parametrize("argv, sentence", [
    (["user", "add", "root"], "A user named root exists already."),
    (["user", "add", "bad name!"], "bad name! is not a user name: use letters, digits and @ . + - _ only."),
    (["user", "add", " "], "A user name is needed."),
    (["--as", "ann", "user", "add", "eve"], "Only superusers may create users."),
])
def test_bad_users_are_refused_with_a_sentence_and_change_nothing(argv, sentence, root, django_user_model, capsys):
    django_user_model.objects.create_user("ann", password="pw-ann", is_staff=True)
    before = sorted(django_user_model.objects.values_list("username", flat=True))
    assert main(argv, configure=False) == 1
    assert capsys.readouterr().err.strip() == f"dbkeeper: {sentence.strip()}"
    assert sorted(django_user_model.objects.values_list("username", flat=True)) == before
    assert not AuditEntry.objects.filter(action="user.create").exists()


@pytest.mark.usefixtures("own_storage")
def test_a_restore_from_the_catalog_counts_the_backups_tables(pg, pg_dbname, capsys):
    make_pg_source(pg, pg_dbname, rows=10)
    op = make_backup(pg.url(pg_dbname))
    assert op.status == "succeeded", op.error_message
    tables = len(Backup.objects.get(pk=op.result["backup_id"]).tables)
    assert tables >= 2
    capsys.readouterr()
    args = build_parser().parse_args(["restore", "--backup", op.result["backup_id"], "--target", pg.url(pg_dbname),
                                      "--yes"])
    assert args.func(args) == 0
    err = capsys.readouterr().err
    assert f", {tables} tables" in err, err


@pytest.mark.usefixtures("own_storage")
def test_the_catalog_reads_at_80_columns_and_names_the_target(pg, pg_dbname, capsys, monkeypatch):
    make_pg_source(pg, pg_dbname, rows=10)
    Target.objects.create(name="shop", url=pg.url(pg_dbname))
    op = make_backup("shop")
    assert op.status == "succeeded", op.error_message
    backup = Backup.objects.get(pk=op.result["backup_id"])
    monkeypatch.setenv("COLUMNS", "80")
    capsys.readouterr()
    assert main(["backups"], configure=False) == 0
    lines = capsys.readouterr().out.splitlines()
    # One block per backup at 80 columns: every value whole, the target by its name, not a cut URL.
    assert "…" not in "\n".join(lines)
    assert f"id       {backup.id}" in lines and "target   shop" in lines
    assert f"sha256   {backup.sha256[:12]}" in lines
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["backups"], configure=False) == 0
    table = capsys.readouterr().out
    assert backup.id in table and "│ shop " in table and "postgresql://" not in table


def test_an_empty_catalog_says_so(capsys):
    assert main(["backups"], configure=False) == 0
    assert capsys.readouterr().out.startswith("No backups yet (data folder: ")


def test_the_databases_page_offers_actions_only_to_who_may_take_them(pg, pg_dbname, root, django_user_model):
    from dbkeeper.access import grants

    from .permission_helpers import user_with

    pg.drop_db(pg_dbname)
    pg.create_db(pg_dbname)
    Target.objects.create(name="shop", url=pg.url(pg_dbname))
    bob = user_with(django_user_model, "view", "shop", name="bob")

    def seen(user):
        client = Client()
        client.force_login(user)
        page = client.get("/databases/")
        assert page.status_code == 200
        listing = client.get("/api/databases/").json()
        (server,) = listing["servers"]
        shop = next(d for d in server["databases"] if d["name"] == pg_dbname)
        return page.content.decode(), server["manageable"], shop["may_manage"], shop["via"]

    page, manageable, may, via = seen(bob)
    # Seen, not managed: no create forms, no actions that would only be refused with 403.
    assert 'id="create-form"' not in page and 'id="from-backup-form"' not in page
    assert (manageable, may, via) == ([], False, "shop")
    page, manageable, may, via = seen(root)
    assert 'id="create-form"' in page and '<option value="shop">' in page
    assert (manageable, may, via) == (["shop"], True, "shop")
    grants.grant("bob", "manage_databases", "shop")
    page, manageable, may, via = seen(django_user_model.objects.get(username="bob"))
    assert 'id="create-form"' in page and (manageable, may) == (["shop"], True)
    pg.drop_db(pg_dbname)


def test_a_reader_that_goes_away_stops_the_command_quietly(tmp_path):
    import os
    import subprocess
    import sys

    # Unbuffered: each line is written as the command prints it, as a long listing's are.
    env = {**os.environ, "DBKEEPER_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "dbkeeper", "schedule", "preview", "* * * * *"],
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # as `| head -1` does once it has its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) in (0, 141)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_a_failed_scheduled_backups_alert_says_its_cause_in_the_readers_language():
    from django.utils import translation

    from dbkeeper.health import alerts
    from dbkeeper.health.models import Alert
    from dbkeeper.messages import Message, N_, render_stored
    from dbkeeper.operations.models import Operation

    cause = Message(N_("There is no target named %(name)s."), {"name": "gone"})
    op = Operation.objects.create(kind="backup", status="failed", target_spec="gone", error_code="target_unknown",
                                  error_message=cause.english(), error_data=cause.to_json(),
                                  result={"request": {"origin": "schedule:sc_gone", "storage": "local"}})
    alerts.from_operation(op)
    alert = Alert.objects.get(key="backup_failed:schedule:sc_gone")
    assert alert.message.endswith("failed: There is no target named gone.")
    with translation.override("ar"):
        arabic_cause = cause.render()
        said = render_stored(alert.message_data, alert.message)
    assert arabic_cause != cause.english() and arabic_cause in said, said
    assert "There is no target" not in said


def test_status_says_its_times_with_their_zone():
    from dbkeeper.health.commands import _when

    assert _when("2026-11-30T10:27:05.123+00:00") == "2026-11-30 10:27 UTC"
    assert _when("2026-12-01T02:30:00+01:00") == "2026-12-01 01:30 UTC"  # a Paris schedule's next run
    assert _when(None) == "-"


def test_the_database_commands_explain_their_arguments(capsys):
    for action in ("duplicate", "rename", "drop"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["db", action, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "target a configured target: the action goes to its server" in text, text
        assert "{," not in text
    assert build_parser().parse_args(["db", "duplicate", "shop", "a", "b", "--strategy", "wal_log"]).strategy == "wal_log"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["db", "duplicate", "shop", "a", "b", "--strategy", "fast"])
    assert "invalid choice: 'fast'" in capsys.readouterr().err
