"""Every sentence a person may read is in Arabic too: the errors the engines
and targets raise (kept as template and parameters, put in the reader's
language by exc.render() or, once stored, by render_stored), the tus API's
answers, and every message id marked anywhere in the package."""

import ast
import gettext
import gzip
import re
import sqlite3
import zipfile
from pathlib import Path

import pytest
from django.test import Client
from django.utils import translation
from django.utils.translation import trim_whitespace

import dbkeeper
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
from dbkeeper.messages import Message, N_, Np_, render_stored
from dbkeeper.procs import pg_tool
from dbkeeper.targets.postgres import PostgresTarget
from dbkeeper.targets.sqlite import SqliteTarget

from .translated import ARABIC, Rejected, assert_translated, in_arabic

PACKAGE = Path(dbkeeper.__file__).parent
CATALOG = PACKAGE / "web" / "locale" / "ar" / "LC_MESSAGES" / "django.mo"
ARABIC_PLURALS = ("nplurals=6; plural=n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : "
                  "n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5;")

def rejection(call, *args) -> Rejected:
    with pytest.raises(DbkeeperError) as caught:
        call(*args)
    return Rejected(caught.value)


# -- sentences stored by the worker ---------------------------------------------------

def test_an_undecompressable_gzip_file_is_explained_in_arabic(tmp_path):
    path = tmp_path / "backup.sql.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"not really gzip data at all" * 4)
    rejected = rejection(detect, path)
    message = rejected.message
    assert message.startswith("The file looks gzipped but cannot be decompressed: ")
    error = message.removeprefix("The file looks gzipped but cannot be decompressed: ").removesuffix(".")
    assert_translated(message, in_arabic(rejected), details=[error])


@pytest.mark.django_db
def test_fixture_errors_are_in_arabic(tmp_path):
    path = tmp_path / "fixture.json"
    path.write_text('[{"model": "nosuchapp.widget", "pk": 1, "fields": {}}]')
    rejected = rejection(FixturesEngine().inspect, path)
    message = rejected.message
    assert "models this project does not have: nosuchapp.widget" in message
    assert_translated(message, in_arabic(rejected), details=["nosuchapp.widget"])

    path.write_text('[{"pk": 1}]')
    rejected = rejection(FixturesEngine().inspect, path)
    message = rejected.message
    assert message.startswith("Object number 1 of the fixture is not a Django object")
    assert_translated(message, in_arabic(rejected), details=['"model"', '"fields"'])


def test_an_odoo_manifest_that_is_not_json_is_explained_in_arabic(tmp_path):
    path = tmp_path / "odoo.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("dump.sql", "SELECT 1;\n")
        archive.writestr("manifest.json", "{not json")
    rejected = rejection(OdooEngine().inspect, path)
    message = rejected.message
    assert message.startswith("manifest.json in the Odoo backup is not valid JSON: ")
    error = message.removeprefix("manifest.json in the Odoo backup is not valid JSON: ").removesuffix(".")
    assert_translated(message, in_arabic(rejected), details=["manifest.json", error])


def test_a_dump_newer_than_pg_restore_is_explained_in_arabic(pg, tmp_path):
    path = tmp_path / "postgres.dump"
    pg.tool("pg_dump", "-Fc", "-f", str(path), dbname="postgres")
    archive = read_archive(path, walk_data=False)
    archive.header.version = (1, 99, 0)  # what a future pg_dump would write
    rejected = rejection(_check_readable, pg_tool("pg_restore"), archive)
    message = rejected.message
    assert "which the installed pg_restore" in message and "archive version 1.99" in message
    assert_translated(message, in_arabic(rejected), details=[archive.header.pg_dump_version, "1.99"])

    cut = tmp_path / "cut.dump"
    cut.write_bytes(path.read_bytes()[:40])
    rejected = rejection(PgCustomEngine().inspect, cut)
    message = rejected.message
    assert message.startswith("The dump is truncated: it ends inside ")
    assert_translated(message, in_arabic(rejected))


def test_a_cut_short_sql_file_is_explained_in_arabic_with_where_it_stops(tmp_path):
    path = tmp_path / "cut.sql"
    path.write_text("CREATE TABLE t (a text);\nINSERT INTO t VALUES ('abc\n")
    rejected = rejection(PgPlainEngine().inspect, path)
    message = rejected.message
    assert message == "The SQL file ends inside a quoted string that starts on line 2; it was probably cut short."
    assert_translated(message, in_arabic(rejected), details=["2"])

    gz = tmp_path / "cut.sql.gz"
    gz.write_bytes(gzip.compress(b"CREATE TABLE t (a text);\n" * 50)[:-20])
    rejected = rejection(PgPlainEngine().inspect, gz)
    message = rejected.message
    assert message.startswith("The gzipped SQL file is damaged or cut short: ")
    error = message.removeprefix("The gzipped SQL file is damaged or cut short: ").removesuffix(".")
    assert_translated(message, in_arabic(rejected), details=[error])


def test_sqlite_header_errors_are_in_arabic():
    header = bytearray(b"SQLite format 3\x00" + bytes(84))
    header[16:18] = (1000).to_bytes(2, "big")
    rejected = rejection(parse_header, bytes(header), 4096)
    message = rejected.message
    assert message == "The SQLite file is damaged: its header gives an impossible page size (1000)."
    assert_translated(message, in_arabic(rejected), details=["1000"])

    header[16:18] = (4096).to_bytes(2, "big")
    header[28:32] = (10).to_bytes(4, "big")
    rejected = rejection(parse_header, bytes(header), 8192)
    message = rejected.message
    assert message.startswith("The SQLite file is cut short: its header says 10 pages of 4096 bytes")
    assert_translated(message, in_arabic(rejected), details=["40960", "4096", "8192", "10"])


def test_zip_refusals_are_in_arabic_with_their_reason(tmp_path):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../outside.txt", "x")
    rejected = rejection(SafeZip, path, 10**9, 100, "Odoo backup")
    message = rejected.message
    assert message == ("The Odoo backup was refused before anything was unpacked: "
                       "the entry ../outside.txt points outside the folder it is unpacked into (..).")
    arabic = in_arabic(rejected)
    assert_translated(message, arabic, details=["../outside.txt"])
    with translation.override("ar"):
        label = Message(N_("Odoo backup")).render()
    assert label != "Odoo backup" and label in arabic

    path.write_bytes(b"PK\x03\x04 but nothing else")
    rejected = rejection(SafeZip, path, 10**9, 100)
    message = rejected.message
    assert message.startswith("The zip file cannot be read as a zip file: ")
    error = message.removeprefix("The zip file cannot be read as a zip file: ").removesuffix(".")
    assert_translated(message, in_arabic(rejected), details=[error])


def test_target_errors_are_in_arabic(tmp_path):
    postgres = PostgresTarget(DbUrl.parse("postgresql://dbk@localhost:1/shop"))
    rejected = rejection(postgres.drop_named, "accounts")
    message = rejected.message
    assert message == "accounts is not a scratch or pre-restore copy of shop; it was not dropped."
    assert_translated(message, in_arabic(rejected), details=["accounts", "shop"])

    live = tmp_path / "shop.sqlite3"
    garbage = tmp_path / "shop.sqlite3.dbk-scratch-abc"
    garbage.write_bytes(b"this is not a database file, just words" * 200)
    sqlite_target = SqliteTarget(DbUrl.parse(f"sqlite:///{garbage}"))
    rejected = rejection(sqlite_target.check)
    message = rejected.message
    assert message.startswith("The restored SQLite file cannot be read: ")
    error = message.removeprefix("The restored SQLite file cannot be read: ").removesuffix(".")
    assert error == str(sqlite3.DatabaseError("file is not a database"))
    assert_translated(message, in_arabic(rejected), details=[error])

    rejected = rejection(SqliteTarget(DbUrl.parse(f"sqlite:///{live}")).drop_named, str(tmp_path / "other.db"))
    message = rejected.message
    assert_translated(message, in_arabic(rejected), details=[str(tmp_path / "other.db"), str(live)])


def test_an_unknown_sentence_is_shown_as_written():
    with translation.override("ar"):
        assert Message("Something nobody translated.").render() == "Something nobody translated."
        assert render_stored(None, "Something nobody translated.") == "Something nobody translated."


@pytest.mark.django_db
def test_what_the_worker_stores_is_shown_in_arabic_and_old_english_rows_still_are():
    from dbkeeper.operations.models import Operation

    op = Operation.objects.create(source_name="shop.dump", target_display="shop")
    op.add_event(Np_("The backup is a %(label)s of %(size)s with %(count)s table.",
                     "The backup is a %(label)s of %(size)s with %(count)s tables."),
                 params={"label": Message(N_("SQLite database")), "size": "2.0 KB", "count": 3})
    op.add_event("The live database was not changed.")  # as a row written before data existed
    op.events.filter(message="The live database was not changed.").update(data=None)
    event, old = op.events.all()
    assert event.message == "The backup is a SQLite database of 2.0 KB with 3 tables."
    with translation.override("ar"):
        arabic, label, fixed = event.rendered(), Message(N_("SQLite database")).render(), old.rendered()
    assert_translated(event.message, arabic, details=["2.0 KB", "3"])
    assert in_arabic(event.message) == arabic  # what the engines' tests read
    assert label in arabic
    assert_translated(old.message, fixed)


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
    rejected = rejection(find_token, "999999")
    assert rejected.message == "No active API token matches '999999'; see 'dbkeeper token list'."
    assert_translated(rejected.message, rejected.arabic, details=["'999999'", "'dbkeeper token list'"])


# -- every message id has its Arabic ---------------------------------------------------

# Calls whose literal arguments are message ids, and how many leading arguments are.
MARKS = {"N_": 1, "gettext_noop": 1, "_": 1, "gettext": 1, "gettext_lazy": 1,
         "Np_": 2, "ngettext": 2, "ngettext_lazy": 2}
TEMPLATE_TAG = re.compile(r"""{%\s*(?:translate|trans)\s+(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
BLOCK_TAG = re.compile(r"{%\s*blocktrans(?:late)?\b([^%]*)%}(.*?){%\s*endblocktrans(?:late)?\s*%}", re.DOTALL)
TEMPLATE_VARIABLE = re.compile(r"{{\s*(\w+)\s*}}")


def marked_in_python() -> list[tuple[str, tuple[str, ...]]]:
    """(where, ids) of every call to a mark with literal strings: one id, or
    a singular and a plural."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in MARKS or len(node.args) < MARKS[name]:
                continue
            args = node.args[:MARKS[name]]
            if all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args):
                found.append((f"{path.relative_to(PACKAGE)}:{node.lineno}", tuple(a.value for a in args)))
    return found


def marked_in_templates() -> list[tuple[str, tuple[str, ...]]]:
    found = []
    for path in sorted((PACKAGE / "web" / "templates").rglob("*.html")):
        text = path.read_text()
        for match in TEMPLATE_TAG.finditer(text):
            found.append((str(path.relative_to(PACKAGE)), (match.group(1) or match.group(2),)))
        for match in BLOCK_TAG.finditer(text):
            # What makemessages makes of a block: %% for %, %(name)s for {{ name }}.
            body = TEMPLATE_VARIABLE.sub(r"%(\1)s", match.group(2).replace("%", "%%"))
            if "trimmed" in match.group(1).split():
                body = trim_whitespace(body)  # as makemessages does for {% blocktrans trimmed %}
            found.append((str(path.relative_to(PACKAGE)), (body,)))
    return found


def test_the_walk_finds_the_marks_it_should():
    python = {ids for _where, ids in marked_in_python()}
    templates = {ids for _where, ids in marked_in_templates()}
    assert ("The live database was not changed.",) in python  # N_
    assert ("The backup is a %(label)s of %(size)s with %(count)s table.",
            "The backup is a %(label)s of %(size)s with %(count)s tables.") in python  # Np_
    assert ("Details",) in templates
    assert ("%(age)s ago",) in templates  # blocktrans


def test_every_message_id_has_an_arabic_translation():
    with CATALOG.open("rb") as mo:
        catalog = gettext.GNUTranslations(mo)
    assert catalog.info()["plural-forms"] == ARABIC_PLURALS
    entries = catalog._catalog  # msgid -> text; (msgid, form) -> text for plurals
    missing = []
    for where, ids in marked_in_python() + marked_in_templates():
        if len(ids) == 1:
            if not entries.get(ids[0]):
                missing.append((where, ids[0]))
        else:
            forms = [entries.get((ids[0], form)) for form in range(6)]
            if not all(forms):
                missing.append((where, ids[0], f"forms {[i for i, f in enumerate(forms) if not f]} missing"))
    assert not missing, "\n".join(map(str, missing))


def test_plural_sentences_take_the_arabic_form_of_their_number():
    template = Np_("The backup is a %(label)s of %(size)s with %(count)s table.",
                   "The backup is a %(label)s of %(size)s with %(count)s tables.")
    with translation.override("ar"):
        rendered = {n: Message(template, {"label": "x", "size": "1 KB", "count": n}).render()
                    for n in (0, 1, 2, 3, 11, 100)}
    assert len(set(rendered.values())) == 6, rendered
