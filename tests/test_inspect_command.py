"""``dbkeeper inspect FILE`` prints what a person needs (format, sizes in
units, server and pg_dump, tables with their rows or data sizes, the roles
and extensions the backup needs) and, with --json, the whole BackupInfo."""

import json
import re

import pytest

from dbkeeper.cli import main

from .builders import dump_custom, dump_plain, make_pg_source, make_sqlite

UNIT = r"\d+(\.\d)? (bytes|KB|MB|GB)"


@pytest.fixture(scope="module")
def pg_dumps(pg, tmp_path_factory):
    folder = tmp_path_factory.mktemp("inspect")
    make_pg_source(pg, "inspect_src", rows=1200)
    with pg.connect("inspect_src") as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        conn.execute("DROP ROLE IF EXISTS inspect_reader")
        conn.execute("CREATE ROLE inspect_reader")
        conn.execute("GRANT SELECT ON public.items TO inspect_reader")
    dumps = {"custom": dump_custom(pg, "inspect_src", folder / "shop.dump"),
             "plain": dump_plain(pg, "inspect_src", folder / "shop.sql")}
    with pg.connect() as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    pg.drop_db("inspect_src")
    yield dumps, version
    with pg.connect() as conn:
        conn.execute("DROP ROLE IF EXISTS inspect_reader")


def shown(capsys, monkeypatch, *args):
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["inspect", *map(str, args)], configure=False) == 0
    return capsys.readouterr().out


def lines(text):
    return [re.sub(r"\s+", " ", line).strip() for line in text.splitlines() if line.strip()]


def test_a_custom_dump_is_described_for_people(pg_dumps, capsys, monkeypatch):
    dumps, version = pg_dumps
    out = lines(shown(capsys, monkeypatch, dumps["custom"]))
    assert "format PostgreSQL custom-format dump" in out
    assert any(re.fullmatch(rf"file {UNIT}, compressed \(gzip( \(level \d\))?\)", l) for l in out), out
    assert any(re.fullmatch(rf"table data {UNIT} \({UNIT} stored\)", l) for l in out), out
    assert f"server PostgreSQL {version}" in out
    assert any(l.startswith("dumped by pg_dump ") for l in out) and "database inspect_src" in out
    assert "2 tables data" in out
    assert any(re.fullmatch(rf"public\.items {UNIT}", l) for l in out), out
    assert any(re.fullmatch(rf"sales\.orders {UNIT}", l) for l in out), out
    assert any(l.startswith("roles it names ") and "inspect_reader" in l for l in out), out
    assert "extensions pg_trgm (schema public)" in out
    text = "\n".join(out)
    for internal in ("restrict_lines", "data_size", "stored_data_size", "needs", "True", "archive_version"):
        assert internal not in text


def test_a_plain_dump_is_described_with_the_rows_of_each_table(pg_dumps, capsys, monkeypatch):
    dumps, version = pg_dumps
    out = lines(shown(capsys, monkeypatch, dumps["plain"]))
    assert "format PostgreSQL plain SQL dump" in out
    assert any(re.fullmatch(rf"file {UNIT}, not compressed", l) for l in out), out
    assert f"server PostgreSQL {version}" in out and any(l.startswith("dumped by pg_dump ") for l in out)
    assert "2 tables rows" in out and "public.items 1,200" in out and "sales.orders 120" in out
    assert any(l.startswith("roles it names ") and "inspect_reader" in l for l in out), out
    assert "extensions pg_trgm (schema public)" in out
    text = "\n".join(out)
    for internal in ("restrict_lines", "uncompressed_size", "pg_dump True", "[[", "copy_blocks"):
        assert internal not in text


def test_a_sqlite_file_is_described_with_its_rows(tmp_path, capsys, monkeypatch):
    backup = make_sqlite(tmp_path / "app.sqlite3", rows=7)
    out = lines(shown(capsys, monkeypatch, backup))
    assert "format SQLite database" in out
    assert any(re.fullmatch(rf"file {UNIT}, not compressed", l) for l in out), out
    assert any(re.fullmatch(r"server SQLite \d+\.\d+\.\d+", l) for l in out), out
    assert "2 tables rows" in out and "notes 7" in out and "tags 10" in out
    assert not any(l.startswith(("roles", "extensions")) for l in out)


def test_json_has_the_whole_backup_info(pg_dumps, tmp_path, capsys, monkeypatch):
    dumps, version = pg_dumps
    custom = json.loads(shown(capsys, monkeypatch, dumps["custom"], "--json"))
    assert custom["format"] == "pg_custom" and custom["server_version"] == version
    assert set(custom["tables"]) == {"public.items", "sales.orders"}
    assert custom["details"]["data_size"] == sum(custom["details"]["table_data_sizes"].values())
    assert "pg_trgm" in custom["details"]["needs"]["extensions"]

    plain = json.loads(shown(capsys, monkeypatch, dumps["plain"], "--json"))
    assert plain["format"] == "pg_plain" and plain["size"] == dumps["plain"].stat().st_size
    details = plain["details"]
    assert details["table_rows"] == {"public.items": 1200, "sales.orders": 120}
    assert details["pg_dump"] is True and details["restrict_lines"] is not None and "partial" not in details
    assert "inspect_reader" in details["roles"]

    sqlite = json.loads(shown(capsys, monkeypatch, make_sqlite(tmp_path / "b.sqlite3", rows=7), "--json"))
    assert sqlite["format"] == "sqlite" and sqlite["details"]["table_rows"] == {"notes": 7, "tags": 10}
    assert sqlite["compressed"] is False and sqlite["details"]["uncompressed_size"] == sqlite["size"]
