"""The command line, run as a user runs it: a separate process."""


from .builders import dump_custom, make_pg_source, make_sqlite
from .dbsnapshot import pg_snapshot, sqlite_snapshot
from .live import run_dbkeeper as dbkeeper
from .pgserver import PASSWORD


def test_restore_with_progress_then_listed_in_operations(pg, pg_dbname, tmp_path):
    make_pg_source(pg, "src_cli", rows=300, value="cli")
    dump = dump_custom(pg, "src_cli", tmp_path / "cli.dump")
    result = dbkeeper(tmp_path, "restore", str(dump), "--target", pg.url(pg_dbname), "--yes")
    assert result.returncode == 0, result.stderr
    assert "Restored" in result.stderr and "100.0 %" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    info = dict(host="127.0.0.1", port=pg.port, user="postgres", password=PASSWORD)
    assert pg_snapshot({**info, "dbname": pg_dbname}) == pg_snapshot({**info, "dbname": "src_cli"})
    listing = dbkeeper(tmp_path, "operations")
    assert "succeeded" in listing.stdout and "***" in listing.stdout and PASSWORD not in listing.stdout
    pg.drop_db("src_cli")


def test_inspect_describes_without_writing(tmp_path):
    backup = make_sqlite(tmp_path / "b.sqlite3", rows=7)
    result = dbkeeper(tmp_path, "inspect", str(backup), "--json")
    assert result.returncode == 0, result.stderr
    assert '"format": "sqlite"' in result.stdout and '"notes"' in result.stdout


def test_restore_asks_for_confirmation_and_refuses_without_it(tmp_path):
    backup = make_sqlite(tmp_path / "b.sqlite3", rows=7, value="new")
    live = make_sqlite(tmp_path / "live.sqlite3", rows=3, value="old")
    before = sqlite_snapshot(live)
    result = dbkeeper(tmp_path, "restore", str(backup), "--target", f"sqlite:///{live}", input="")
    assert result.returncode == 1 and "--yes" in result.stderr
    assert sqlite_snapshot(live) == before


def test_failed_restore_exits_non_zero_with_the_reason(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello, this is not a backup\n")
    result = dbkeeper(tmp_path, "restore", str(bad), "--target", f"sqlite:///{tmp_path / 'x.db'}", "--yes")
    assert result.returncode == 1
    assert "not a backup dbkeeper can restore" in result.stderr
    assert not (tmp_path / "x.db").exists()
