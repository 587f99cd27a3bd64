"""The PostgreSQL swap that the running application does not notice: a query
running when it starts finishes, an idle kept session is ended, a connection
made during the swap waits and finds the restored database; a role that may
not lock pg_database changes nothing and gets the previous swap."""

import threading
import time

import psycopg
import pytest

from dbkeeper.targets.pg_swap import swap_when_quiet

from .pgserver import PASSWORD


def make_db(pg, name, value, owner=None):
    pg.drop_db(name)
    with pg.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' OWNER "{owner}"' if owner else ""))
    with pg.connect(name) as conn:
        conn.execute("CREATE TABLE t (v text)")
        conn.execute("INSERT INTO t VALUES (%s)", (value,))
        if owner:
            conn.execute(f'ALTER TABLE t OWNER TO "{owner}"')


def value(pg, name):
    with pg.connect(name) as conn:
        return conn.execute("SELECT v FROM t").fetchone()[0]


def test_running_queries_finish_and_new_connections_wait_for_the_restored_database(pg, pg_dbname):
    live, new, pre = pg_dbname, f"{pg_dbname}__dbk_scratch_q", f"{pg_dbname}__prerestore_q"
    make_db(pg, live, "old")
    make_db(pg, new, "restored")
    kept = pg.connect(live)  # a kept connection, idle between requests
    kept.execute("SELECT 1")
    results = {}

    def running_query():
        with pg.connect(live) as conn:
            results["running"] = conn.execute("SELECT v FROM t, pg_sleep(0.8)").fetchone()[0]

    def new_connection():
        time.sleep(0.3)  # while the swap waits for the running query
        started = time.monotonic()
        with pg.connect(live) as conn:
            results["new"] = conn.execute("SELECT v FROM t").fetchone()[0], time.monotonic() - started

    threads = [threading.Thread(target=running_query), threading.Thread(target=new_connection)]
    threads[0].start()
    time.sleep(0.1)
    threads[1].start()
    try:
        with pg.connect() as admin:
            assert swap_when_quiet(admin, live, new, pre) is True
    finally:
        for thread in threads:
            thread.join(timeout=30)
    assert results["running"] == "old"  # not ended in the middle
    got, waited = results["new"]
    assert got == "restored" and waited > 0.2  # it waited for the swap instead of failing
    with pytest.raises(psycopg.OperationalError):
        kept.execute("SELECT 1")
    kept.close()
    assert value(pg, live) == "restored" and value(pg, pre) == "old"
    pg.drop_db(pre)


def test_a_role_that_may_not_lock_pg_database_changes_nothing(pg, pg_dbname):
    role = "dbk_quiet_owner"
    with pg.connect() as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        conn.execute(f"CREATE ROLE \"{role}\" LOGIN CREATEDB PASSWORD '{PASSWORD}'")
    live, new, pre = pg_dbname, f"{pg_dbname}__dbk_scratch_q", f"{pg_dbname}__prerestore_q"
    try:
        make_db(pg, live, "old", owner=role)
        make_db(pg, new, "restored", owner=role)
        with psycopg.connect(host="127.0.0.1", port=pg.port, user=role, password=PASSWORD, dbname="postgres",
                             autocommit=True) as conn:
            assert swap_when_quiet(conn, live, new, pre) is False
            assert conn.execute("SELECT 1").fetchone() == (1,)  # usable for the swap that follows
        assert value(pg, live) == "old" and value(pg, new) == "restored"
    finally:
        for name in (live, new, pre):
            pg.drop_db(name)
        with pg.connect() as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_pg_database_held_by_another_session_changes_nothing(pg, pg_dbname):
    live, new, pre = pg_dbname, f"{pg_dbname}__dbk_scratch_q", f"{pg_dbname}__prerestore_q"
    make_db(pg, live, "old")
    make_db(pg, new, "restored")
    with pg.connect() as holder, pg.connect() as admin:
        with holder.transaction():
            holder.execute("LOCK TABLE pg_catalog.pg_database IN ACCESS SHARE MODE")
            started = time.monotonic()
            assert swap_when_quiet(admin, live, new, pre) is False
            assert time.monotonic() - started < 10
        assert admin.execute("SELECT 1").fetchone() == (1,)
    assert value(pg, live) == "old" and value(pg, new) == "restored"
    pg.drop_db(new)
