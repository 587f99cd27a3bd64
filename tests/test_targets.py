"""Targets on their own: scratch copies, the swap, and its safety rules."""

import sqlite3

import pytest

from dbkeeper.dburl import DbUrl
from dbkeeper.errors import TargetError
from dbkeeper.targets.postgres import PostgresTarget, is_sibling, sibling_name
from dbkeeper.targets.sqlite import SqliteTarget


def make_pg_db(pg, name, value):
    pg.create_db(name)
    with pg.connect(name) as conn:
        conn.execute("CREATE TABLE t (v text)")
        conn.execute("INSERT INTO t VALUES (%s)", (value,))


def value_of(pg, name):
    with pg.connect(name) as conn:
        return conn.execute("SELECT v FROM t").fetchone()[0]


def test_sibling_names_stay_valid_identifiers():
    long = "x" * 80
    name = sibling_name(long, "dbk_scratch_abcdef123456")
    assert len(name.encode()) <= 63 and name.endswith("__dbk_scratch_abcdef123456")
    assert is_sibling(long, name)
    assert not is_sibling("shop", "shop")
    assert not is_sibling("shop", "other__prerestore_1")


def test_postgres_swap_over_live_database_with_open_connection(pg, pg_dbname):
    make_pg_db(pg, pg_dbname, "old")
    target = PostgresTarget(DbUrl.parse(pg.url(pg_dbname)))
    scratch = target.scratch("op_1_abc")
    scratch.create()
    with pg.connect(scratch.name) as conn:
        conn.execute("CREATE TABLE t (v text)")
        conn.execute("INSERT INTO t VALUES ('new')")
    holder = pg.connect(pg_dbname)  # an application still connected to the live database
    try:
        pre = target.swap_in(scratch, target.prerestore_name("op_1_abc"))
    finally:
        holder.close()
    assert value_of(pg, pg_dbname) == "new"
    assert value_of(pg, pre) == "old"
    assert scratch.name not in pg.databases()
    # Both are connectable again.
    with pg.connect(pre), pg.connect(pg_dbname):
        pass


def test_postgres_swap_into_missing_database(pg, pg_dbname):
    target = PostgresTarget(DbUrl.parse(pg.url(pg_dbname)))
    assert not target.exists()
    scratch = target.scratch("op_2_abc")
    scratch.create()
    assert target.swap_in(scratch, target.prerestore_name("op_2_abc")) is None
    assert target.exists() and scratch.name not in pg.databases()


def test_postgres_failed_second_rename_puts_live_back(pg, pg_dbname):
    make_pg_db(pg, pg_dbname, "old")
    target = PostgresTarget(DbUrl.parse(pg.url(pg_dbname)))
    missing_scratch = target.scratch("op_3_abc")  # never created: the second rename must fail
    with pytest.raises(Exception):
        target.swap_in(missing_scratch, target.prerestore_name("op_3_abc"))
    assert value_of(pg, pg_dbname) == "old"
    assert not [d for d in pg.databases() if d.startswith(pg_dbname + "__")]


def test_postgres_drop_named_refuses_the_live_database(pg, pg_dbname):
    make_pg_db(pg, pg_dbname, "old")
    target = PostgresTarget(DbUrl.parse(pg.url(pg_dbname)))
    with pytest.raises(TargetError):
        target.drop_named(pg_dbname)
    assert pg_dbname in pg.databases()


def test_postgres_wrong_password_is_a_clear_error(pg, pg_dbname):
    url = DbUrl.parse(pg.url(pg_dbname).replace("s3cret-test-pw", "N0t-the-pw"))
    with pytest.raises(TargetError) as err:
        PostgresTarget(url).exists()
    assert "Cannot connect" in err.value.message and "N0t-the-pw" not in err.value.message


def _sqlite_db(path, value, wal=False):
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (v text)")
    conn.execute("INSERT INTO t VALUES (?)", (value,))
    conn.commit()
    return conn


def test_sqlite_swap_of_wal_database_keeps_uncheckpointed_rows_in_copy(tmp_path):
    live_path = tmp_path / "app.db"
    live = _sqlite_db(live_path, "old", wal=True)
    live.execute("PRAGMA wal_autocheckpoint=0")
    live.execute("INSERT INTO t VALUES ('only-in-wal')")
    live.commit()
    assert (tmp_path / "app.db-wal").stat().st_size > 0
    target = SqliteTarget(DbUrl.parse(f"sqlite:///{live_path}"))
    scratch = target.scratch("op_4_abc")
    scratch.create()
    _sqlite_db(scratch.path, "new").close()
    pre = target.swap_in(scratch, target.prerestore_name("op_4_abc"))
    live.close()
    with sqlite3.connect(live_path) as conn:
        assert [r[0] for r in conn.execute("SELECT v FROM t")] == ["new"]
    with sqlite3.connect(pre) as conn:
        assert sorted(r[0] for r in conn.execute("SELECT v FROM t")) == ["old", "only-in-wal"]
    assert not scratch.path.exists()


def test_sqlite_drop_named_refuses_unrelated_files(tmp_path):
    target = SqliteTarget(DbUrl.parse(f"sqlite:///{tmp_path / 'app.db'}"))
    other = tmp_path / "other.db"
    other.write_text("keep me")
    with pytest.raises(TargetError):
        target.drop_named(str(other))
    assert other.exists()


def test_sqlite_paths_with_uri_characters(tmp_path):
    folder = tmp_path / "odd ?#% name"
    folder.mkdir()
    live = folder / "app.db"
    _sqlite_db(live, "v").close()
    target = SqliteTarget(DbUrl.parse(f"sqlite:///{live}"))
    assert target.tables() == {"t"}
    target.check()
