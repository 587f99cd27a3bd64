"""Saved target passwords are encrypted at rest: the control database holds
none in plain text (nor does any API answer, page, log or audit row), a data
folder moved with its key file keeps working, and without the key the
targets that need it say so in a sentence that tells what to do."""

import json
import logging
import shutil
import sqlite3

import pytest
from django.db import connection
from django.test import Client

from dbkeeper import targets
from dbkeeper.errors import DbkeeperError
from dbkeeper.targets.models import Target
from dbkeeper.targets.service import add_target
from dbkeeper.web.api import target_list

from .live import LiveServer
from .pgserver import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key_file(tmp_path, settings):
    """A key file of this test's own (the data folder is shared by the session)."""
    path = tmp_path / "keys" / "secrets.key"
    settings.DBKEEPER = {**settings.DBKEEPER, "SECRETS_KEY_FILE": str(path)}
    return path


def control_database_text():
    """Every row of every table of the control database, as text."""
    dump = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            dump.append(json.dumps(cursor.fetchall(), default=str))
    return "\n".join(dump)


def test_the_password_is_stored_encrypted_and_used_when_resolving(pg, key_file, caplog, django_user_model):
    caplog.set_level(logging.DEBUG)
    root = django_user_model.objects.create_superuser("root", password="pw-root")
    added = add_target("shop", pg.url("postgres"), user=root)
    assert PASSWORD not in json.dumps(added)
    row = Target.objects.get(name="shop")
    assert PASSWORD not in row.url and row.password_encrypted and PASSWORD not in row.password_encrypted
    assert PASSWORD not in control_database_text()
    assert key_file.stat().st_mode & 0o777 == 0o600
    # Resolving decrypts it: the target connects.
    target = targets.resolve("shop")
    assert target.exists() and target.url.password == PASSWORD and target.spec == "shop"
    assert PASSWORD not in targets.configured_targets()["shop"]
    # Nor in an answer, a page or the log.
    client = Client()
    client.force_login(root)
    for path in ("/api/targets/", "/", "/audit/", "/api/audit/"):
        assert PASSWORD not in client.get(path).content.decode(), path
    assert PASSWORD not in caplog.text


def test_a_target_without_password_needs_no_key(tmp_path, key_file):
    add_target("notes", f"sqlite:///{tmp_path / 'live.sqlite3'}")
    assert not key_file.exists() and targets.resolve("notes").name.endswith("live.sqlite3")


def test_without_the_key_the_sentence_says_what_to_do(pg, key_file):
    add_target("shop", pg.url("postgres"))
    key_file.unlink()
    with pytest.raises(DbkeeperError) as err:
        targets.resolve("shop")
    assert err.value.code == "secrets_key_missing"
    assert err.value.message == (f"The key file {key_file} is missing: targets with saved passwords cannot be used; "
                                 "restore the key from the data folder (or its backup) where they were saved.")
    listed = target_list()
    assert listed[0]["name"] == "shop" and "is missing" in listed[0]["error"]
    # A new password is not saved under a new key that would hide the loss of the old one.
    with pytest.raises(DbkeeperError) as err:
        add_target("other", pg.url("other"))
    assert err.value.code == "secrets_key_missing" and not key_file.exists()


def test_with_another_key_the_sentence_says_so(pg, key_file):
    add_target("shop", pg.url("postgres"))
    key_file.write_bytes(b"kPn9VrHfC2Vbq1mUc0n3zZCkXU2o2XbqgVdnq2mD7xQ=")
    with pytest.raises(DbkeeperError) as err:
        targets.resolve("shop")
    assert err.value.code == "secrets_key_wrong" and "not the key they were saved with" in err.value.message


def test_a_restore_into_a_target_without_its_key_is_refused_with_the_sentence(pg, key_file, alice, tmp_path):
    from dbkeeper.access.api_tokens import create_token
    from dbkeeper.backups import store

    from .builders import dump_custom, make_pg_source

    make_pg_source(pg, "src_secret", rows=5, value="x")
    backup = store.add_file(dump_custom(pg, "src_secret", tmp_path / "s.dump"), "s.dump", move=False)
    add_target("shop", pg.url("t_secret_shop"))
    key_file.unlink()
    _, secret = create_token(alice)
    response = Client(HTTP_AUTHORIZATION=f"Bearer {secret}").post(
        "/api/restores/", {"backup_id": backup.id, "target": "shop", "confirm": "shop"}, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "secrets_key_missing"
    assert "is missing" in response.json()["error"]["message"]
    pg.drop_db("src_secret")


# -- the standalone server's data folder -------------------------------------------------------------

def test_a_data_folder_moved_with_its_key_keeps_working_and_without_it_says_why(pg, tmp_path):
    first = LiveServer(tmp_path / "first")
    first.cli("migrate")
    first.cli("target", "add", "shop", pg.url("postgres"))
    assert (tmp_path / "first" / "secrets.key").stat().st_mode & 0o777 == 0o600
    db = sqlite3.connect(tmp_path / "first" / "control.sqlite3")
    assert PASSWORD not in json.dumps(db.execute("SELECT * FROM dbkeeper_target").fetchall())
    db.close()

    shutil.move(tmp_path / "first", tmp_path / "moved")
    moved = LiveServer(tmp_path / "moved")
    assert moved.python("from dbkeeper import targets; print(targets.resolve('shop').exists())").strip() == "True"
    listing = moved.cli("target", "list", "--json").stdout
    assert "shop" in listing and "***" in listing and PASSWORD not in listing

    (tmp_path / "moved" / "secrets.key").unlink()
    listing = moved.cli("target", "list", "--json").stdout
    assert "is missing" in " ".join(listing.split())


def test_the_migration_encrypts_passwords_saved_before_it(pg, tmp_path):
    server = LiveServer(tmp_path / "data")
    server.cli("migrate")
    server.python("from django.core.management import call_command\n"
                  "call_command('migrate', 'dbkeeper', '0003_signin', verbosity=0)\n")
    db = sqlite3.connect(tmp_path / "data" / "control.sqlite3", isolation_level=None)
    db.execute("INSERT INTO dbkeeper_target (name, url, trust, owner, extensions, created_at) "
               "VALUES ('old', ?, '', '', '[]', '2026-01-01 00:00:00')", [pg.url("postgres")])
    server.cli("migrate")
    url, encrypted = db.execute("SELECT url, password_encrypted FROM dbkeeper_target WHERE name = 'old'").fetchone()
    assert PASSWORD not in url and encrypted and url == pg.url("postgres").replace(f":{PASSWORD}", "")
    assert server.python("from dbkeeper import targets; print(targets.resolve('old').exists())").strip() == "True"
    db.close()
