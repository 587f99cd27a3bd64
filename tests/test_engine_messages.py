"""The engines' and targets' sentences are kept as templates with their
parameters: a phrase inside a sentence (the zip's name, why it was refused,
where a dump ends) is translated with it, and counts pick singular or plural."""

import re
import sqlite3
import zipfile

import pytest
from django.utils import translation

from dbkeeper.dburl import DbUrl
from dbkeeper.engines.base import BackupInfo
from dbkeeper.engines.fixtures import FixturesEngine
from dbkeeper.engines.pgarchive import ArchiveError, read_archive
from dbkeeper.engines.sqlscan import SqlScanner
from dbkeeper.engines.zipsafe import SafeZip
from dbkeeper.errors import BackupRejected, CheckFailed, TargetError
from dbkeeper.messages import Message, N_
from dbkeeper.targets import resolve
from dbkeeper.targets.sqlite import SqliteTarget

ARABIC = re.compile(r"[\u0600-\u06FF]")


def arabic(message: Message) -> str:
    with translation.override("ar"):
        return message.render()


def test_a_zip_refusal_is_translated_with_its_reason_and_the_name_of_the_file(tmp_path):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../outside.txt", "x")
    with pytest.raises(BackupRejected) as caught:
        SafeZip(path, 10**9, 100, N_("Odoo backup"))
    error = caught.value
    assert error.message == ("The Odoo backup was refused before anything was unpacked: "
                             "the entry ../outside.txt points outside the folder it is unpacked into (..).")
    what, reason = error.params["what"], error.params["reason"]
    assert isinstance(what, Message) and isinstance(reason, Message)
    text = arabic(error.sentence)
    assert ARABIC.search(text) and "../outside.txt" in text
    assert arabic(what) in text and arabic(reason) in text
    # Stored and read back, it is the same sentence.
    assert arabic(Message.from_json(error.sentence.to_json())) == text


def test_a_dump_cut_inside_its_header_says_where_in_the_readers_language(tmp_path):
    path = tmp_path / "cut.dump"
    path.write_bytes(b"PGDMP\x01\x0e\x00\x04\x08\x01")
    with pytest.raises(ArchiveError) as caught:
        read_archive(path)
    error = caught.value
    assert isinstance(error, BackupRejected) and error.code == "backup_rejected"
    assert error.message == "The dump is truncated: it ends inside the header."
    assert error.params["what"] == Message(N_("the header"))
    text = arabic(error.sentence)
    assert ARABIC.search(text) and "header" not in text


def test_where_an_sql_file_stops_is_a_phrase_for_another_sentence():
    scanner = SqlScanner()
    scanner.feed(b"CREATE TABLE t (a text);\nINSERT INTO t VALUES ('abc\n")
    scanner.finish()
    where = scanner.unterminated()
    assert isinstance(where, Message) and where.params == {"line": 2}
    sentence = Message(N_("The SQL file ends inside %(where)s; it was probably cut short."), {"where": where})
    assert str(sentence) == "The SQL file ends inside a quoted string that starts on line 2; it was probably cut short."
    text = arabic(sentence)
    assert ARABIC.search(text) and arabic(where) in text and "quoted" not in text


def test_a_bad_target_url_says_why_as_a_translated_phrase():
    with pytest.raises(TargetError) as caught:
        resolve("mysql://db.example/shop")
    error = caught.value
    assert error.message == "The target URL is not valid: unsupported database URL scheme 'mysql': use postgresql:// or sqlite:///."
    assert isinstance(error.params["error"], Message)
    with pytest.raises(ValueError) as caught:
        DbUrl.parse("sqlite:///relative.db")
    assert str(caught.value) == "a SQLite URL needs an absolute path: sqlite:////absolute/path.db"


def test_missing_tables_of_a_fixture_restore_are_counted_in_singular_and_plural(tmp_path):
    path = tmp_path / "restored.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE shop_product (id integer primary key)")
    conn.close()
    target = SqliteTarget(DbUrl.parse(f"sqlite:///{path}"))
    engine = FixturesEngine()

    def missing(tables):
        info = BackupInfo(format=engine.format, label=engine.label, size=1, compressed=False, tables=tables)
        with pytest.raises(CheckFailed) as caught:
            engine.check(info, target)
        return caught.value.message

    assert missing(["shop_product", "shop_tag"]) == "The restored copy is missing the table shop_tag."
    assert missing(["shop_order", "shop_product", "shop_tag"]) == "The restored copy is missing the tables shop_order, shop_tag."
