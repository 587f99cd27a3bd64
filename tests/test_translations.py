"""Every sentence a person may read is in Arabic too: the errors the engines
and targets raise (stored in English, shown in the reader's language through
web.messages.localize) and the tus API's answers (translated per request)."""

import gzip
import sqlite3
import zipfile

import pytest
from django.test import Client
from django.utils import translation

from dbkeeper import conf
from dbkeeper.access.api_tokens import create_token, find_token
from dbkeeper.dburl import DbUrl
from dbkeeper.engines import detect
from dbkeeper.engines.fixtures import FixturesEngine
from dbkeeper.engines.odoo import OdooEngine
from dbkeeper.engines.pg_custom import PgCustomEngine, _check_readable
from dbkeeper.engines.pg_plain import PgPlainEngine
from dbkeeper.engines.pgarchive import read_archive
from dbkeeper.engines.sqlite import parse_header
from dbkeeper.engines.zipsafe import SafeZip
from dbkeeper.errors import DbkeeperError
from dbkeeper.procs import pg_tool
from dbkeeper.targets.postgres import PostgresTarget
from dbkeeper.targets.sqlite import SqliteTarget

from .translated import ARABIC, assert_translated, in_arabic

def rejection(call, *args):
    with pytest.raises(DbkeeperError) as caught:
        call(*args)
    return caught.value.message


# -- sentences stored by the worker ---------------------------------------------------

def test_an_undecompressable_gzip_file_is_explained_in_arabic(tmp_path):
    path = tmp_path / "backup.sql.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"not really gzip data at all" * 4)
    message = rejection(detect, path)
    assert message.startswith("The file looks gzipped but cannot be decompressed: ")
    error = message.removeprefix("The file looks gzipped but cannot be decompressed: ").removesuffix(".")
    assert_translated(message, in_arabic(message), details=[error])


@pytest.mark.django_db
def test_fixture_errors_are_in_arabic(tmp_path):
    path = tmp_path / "fixture.json"
    path.write_text('[{"model": "nosuchapp.widget", "pk": 1, "fields": {}}]')
    message = rejection(FixturesEngine().inspect, path)
    assert "models this project does not have: nosuchapp.widget" in message
    assert_translated(message, in_arabic(message), details=["nosuchapp.widget"])

    path.write_text('[{"pk": 1}]')
    message = rejection(FixturesEngine().inspect, path)
    assert message.startswith("Object number 1 of the fixture is not a Django object")
    assert_translated(message, in_arabic(message), details=['"model"', '"fields"'])


def test_an_odoo_manifest_that_is_not_json_is_explained_in_arabic(tmp_path):
    path = tmp_path / "odoo.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("dump.sql", "SELECT 1;\n")
        archive.writestr("manifest.json", "{not json")
    message = rejection(OdooEngine().inspect, path)
    assert message.startswith("manifest.json in the Odoo backup is not valid JSON: ")
    error = message.removeprefix("manifest.json in the Odoo backup is not valid JSON: ").removesuffix(".")
    assert_translated(message, in_arabic(message), details=["manifest.json", error])


def test_a_dump_newer_than_pg_restore_is_explained_in_arabic(pg, tmp_path):
    path = tmp_path / "postgres.dump"
    pg.tool("pg_dump", "-Fc", "-f", str(path), dbname="postgres")
    archive = read_archive(path, walk_data=False)
    archive.header.version = (1, 99, 0)  # what a future pg_dump would write
    message = rejection(_check_readable, pg_tool("pg_restore"), archive)
    assert "which the installed pg_restore" in message and "archive version 1.99" in message
    assert_translated(message, in_arabic(message), details=[archive.header.pg_dump_version, "1.99"])

    cut = tmp_path / "cut.dump"
    cut.write_bytes(path.read_bytes()[:40])
    message = rejection(PgCustomEngine().inspect, cut)
    assert message.startswith("The dump is truncated: it ends inside ")
    assert_translated(message, in_arabic(message))


def test_a_cut_short_sql_file_is_explained_in_arabic_with_where_it_stops(tmp_path):
    path = tmp_path / "cut.sql"
    path.write_text("CREATE TABLE t (a text);\nINSERT INTO t VALUES ('abc\n")
    message = rejection(PgPlainEngine().inspect, path)
    assert message == "The SQL file ends inside a quoted string that starts on line 2; it was probably cut short."
    assert_translated(message, in_arabic(message), details=["2"])

    gz = tmp_path / "cut.sql.gz"
    gz.write_bytes(gzip.compress(b"CREATE TABLE t (a text);\n" * 50)[:-20])
    message = rejection(PgPlainEngine().inspect, gz)
    assert message.startswith("The gzipped SQL file is damaged or cut short: ")
    error = message.removeprefix("The gzipped SQL file is damaged or cut short: ").removesuffix(".")
    assert_translated(message, in_arabic(message), details=[error])


def test_sqlite_header_errors_are_in_arabic():
    header = bytearray(b"SQLite format 3\x00" + bytes(84))
    header[16:18] = (1000).to_bytes(2, "big")
    message = rejection(parse_header, bytes(header), 4096)
    assert message == "The SQLite file is damaged: its header gives an impossible page size (1000)."
    assert_translated(message, in_arabic(message), details=["1000"])

    header[16:18] = (4096).to_bytes(2, "big")
    header[28:32] = (10).to_bytes(4, "big")
    message = rejection(parse_header, bytes(header), 8192)
    assert message.startswith("The SQLite file is cut short: its header says 10 pages of 4096 bytes")
    assert_translated(message, in_arabic(message), details=["40960", "4096", "8192", "10"])


def test_zip_refusals_are_in_arabic_with_their_reason(tmp_path):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../outside.txt", "x")
    message = rejection(SafeZip, path, 10**9, 100, "Odoo backup")
    assert message == ("The Odoo backup was refused before anything was unpacked: "
                       "the entry ../outside.txt points outside the folder it is unpacked into (..).")
    arabic = in_arabic(message)
    assert_translated(message, arabic, details=["../outside.txt"])
    assert in_arabic("Odoo backup") in arabic

    path.write_bytes(b"PK\x03\x04 but nothing else")
    message = rejection(SafeZip, path, 10**9, 100)
    assert message.startswith("The zip file cannot be read as a zip file: ")
    error = message.removeprefix("The zip file cannot be read as a zip file: ").removesuffix(".")
    assert_translated(message, in_arabic(message), details=[error])


def test_target_errors_are_in_arabic(tmp_path):
    postgres = PostgresTarget(DbUrl.parse("postgresql://dbk@localhost:1/shop"))
    message = rejection(postgres.drop_named, "accounts")
    assert message == "accounts is not a scratch or pre-restore copy of shop; it was not dropped."
    assert_translated(message, in_arabic(message), details=["accounts", "shop"])

    live = tmp_path / "shop.sqlite3"
    garbage = tmp_path / "shop.sqlite3.dbk-scratch-abc"
    garbage.write_bytes(b"this is not a database file, just words" * 200)
    sqlite_target = SqliteTarget(DbUrl.parse(f"sqlite:///{garbage}"))
    message = rejection(sqlite_target.check)
    assert message.startswith("The restored SQLite file cannot be read: ")
    error = message.removeprefix("The restored SQLite file cannot be read: ").removesuffix(".")
    assert error == str(sqlite3.DatabaseError("file is not a database"))
    assert_translated(message, in_arabic(message), details=[error])

    message = rejection(SqliteTarget(DbUrl.parse(f"sqlite:///{live}")).drop_named, str(tmp_path / "other.db"))
    assert_translated(message, in_arabic(message), details=[str(tmp_path / "other.db"), str(live)])


def test_an_unknown_sentence_is_shown_as_written():
    assert in_arabic("Something nobody translated.") == "Something nobody translated."


# -- sentences made per request ------------------------------------------------------

def tus_client(user, language):
    _, secret = create_token(user, name="tests")
    return Client(headers={"Authorization": f"Bearer {secret}", "Tus-Resumable": "1.0.0", "Accept-Language": language})


@pytest.mark.django_db
def test_tus_errors_follow_the_request_language(alice):
    english = tus_client(alice, "en").post("/api/uploads/")
    arabic = tus_client(alice, "ar").post("/api/uploads/")
    assert english.status_code == arabic.status_code == 400
    message = english.json()["error"]["message"]
    assert message == "The Upload-Length header is missing."
    assert_translated(message, arabic.json()["error"]["message"], details=["Upload-Length"])

    too_big = str(conf.get("MAX_UPLOAD_SIZE") + 1)
    english = tus_client(alice, "en").post("/api/uploads/", headers={"Upload-Length": too_big})
    arabic = tus_client(alice, "ar").post("/api/uploads/", headers={"Upload-Length": too_big})
    assert english.status_code == arabic.status_code == 413
    message = english.json()["error"]["message"]
    assert message.startswith("The file is ")
    assert_translated(message, arabic.json()["error"]["message"], details=[f"{int(too_big):,}"])

    refused = Client(headers={"Authorization": "Bearer dbk_nosuchtoken", "Tus-Resumable": "1.0.0",
                              "Accept-Language": "ar"}).post("/api/uploads/")
    assert refused.status_code == 401
    assert ARABIC.search(refused.json()["error"]["message"])


@pytest.mark.django_db
def test_token_lookup_errors_are_translatable(alice):
    with translation.override("ar"):
        message = rejection(find_token, "999999")
    with translation.override("en"):
        english = rejection(find_token, "999999")
    assert english == "No active API token matches '999999'; see 'dbkeeper token list'."
    assert_translated(english, message, details=["'999999'", "'dbkeeper token list'"])
