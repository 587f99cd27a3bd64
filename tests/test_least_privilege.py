"""A backup is input from outside: through a superuser target, its SQL runs as
a throwaway unprivileged role, so nothing in it reaches past the scratch
database. Each hostile statement below, in a plain SQL file, in an Odoo zip's
dump.sql and (where an archive can carry it, in function bodies run by CHECK
constraints while the data is loaded) in a custom-format archive: the side
effect never happens, the restore fails with a sentence naming what was
refused, the live database is unchanged, and no scratch database and no
throwaway role are left."""

import json
import re
import secrets
import zipfile
from pathlib import Path

import psycopg
import pytest

from dbkeeper.targets.pgscratch import ROLE_PREFIX

from .builders import dump_custom
from .pgserver import PASSWORD
from .pipeline import assert_unchanged_and_clean, make_live, restore, throwaway_roles

pytestmark = pytest.mark.django_db(transaction=True)

VICTIM_DB = "dbk_victim_db"
EVIL_ROLE = "dbk_evil_superuser"
REFUSED = re.compile(r"permission denied|must be superuser|must be owner|must have|only superusers", re.I)


@pytest.fixture
def marker():
    """A file the database server's user would create if a program ran."""
    path = Path(f"/tmp/dbk-pwned-{secrets.token_hex(6)}")
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture
def victim(pg):
    pg.drop_db(VICTIM_DB)
    pg.create_db(VICTIM_DB)
    with pg.connect() as conn:
        conn.execute(f"DROP ROLE IF EXISTS {EVIL_ROLE}")
    yield VICTIM_DB
    pg.drop_db(VICTIM_DB)
    with pg.connect() as conn:
        conn.execute(f"DROP ROLE IF EXISTS {EVIL_ROLE}")
        conn.execute(f"ALTER ROLE postgres PASSWORD '{PASSWORD}'")
        conn.execute("ALTER SYSTEM RESET ALL")


# name -> (plain SQL, body of a PL/pgSQL function run by a CHECK constraint or None)
HOSTILE = {
    "copy_to_program": ("COPY (SELECT 1) TO PROGRAM 'touch {marker}';",
                        "EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch {marker}''';"),
    "copy_from_program": ("CREATE TABLE sink (t text);\nCOPY sink FROM PROGRAM 'touch {marker}; echo x';",
                          "CREATE TEMP TABLE sink (t text); EXECUTE 'COPY sink FROM PROGRAM ''touch {marker}; echo x''';"),
    "pg_read_file": ("CREATE TABLE leak AS SELECT pg_read_file('/etc/hostname') AS t;",
                     "CREATE TEMP TABLE leak AS SELECT pg_read_file('/etc/hostname') AS t;"),
    "lo_import": ("SELECT lo_import('/etc/hostname');", "PERFORM lo_import('/etc/hostname');"),
    "create_superuser": (f"CREATE ROLE {EVIL_ROLE} SUPERUSER LOGIN PASSWORD 'x';",
                         f"EXECUTE 'CREATE ROLE {EVIL_ROLE} SUPERUSER';"),
    "postgres_password": ("ALTER ROLE postgres PASSWORD 'pwned';", "EXECUTE 'ALTER ROLE postgres PASSWORD ''pwned''';"),
    "alter_system": ("ALTER SYSTEM SET work_mem = '77MB';", None),  # not allowed in a function anyway
    "drop_other_database": (f"DROP DATABASE {VICTIM_DB};", None),  # not allowed in a function anyway
    "dblink": ("CREATE EXTENSION dblink;\n"
               f"SELECT dblink_exec('dbname=postgres user=postgres', 'CREATE ROLE {EVIL_ROLE} SUPERUSER');",
               f"PERFORM dblink_exec('dbname=postgres user=postgres', 'CREATE ROLE {EVIL_ROLE} SUPERUSER');"),
    "do_execute_built_copy": ("DO $$ BEGIN EXECUTE 'CO' || 'PY (SELECT 1) TO PROGRAM ''touch {marker}'''; END $$;",
                              "EXECUTE 'CO' || 'PY (SELECT 1) TO PROGRAM ''touch {marker}''';"),
}

FORMATS = ["plain", "odoo", "custom"]
CASES = [(name, fmt) for name, (_, body) in HOSTILE.items() for fmt in FORMATS if fmt != "custom" or body]


def plain_sql(name, marker):
    statement = HOSTILE[name][0].format(marker=marker)
    return (f"CREATE TABLE public.before_it (id int PRIMARY KEY);\nINSERT INTO public.before_it VALUES (1);\n"
            f"{statement}\nCREATE TABLE public.after_it (id int);\n")


def odoo_zip(path, sql):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("dump.sql", sql)
        z.writestr("manifest.json", json.dumps({"odoo_dump": "1", "db_name": "shop", "version": "17.0",
                                                "pg_version": "15.0", "modules": {"base": "17.0"}}))
    return path


def custom_archive(pg, name, marker, path):
    """pg_dump of a database whose CHECK constraint calls a function that
    does the hostile thing, but only in a restore's scratch copy (so building
    it here, as a superuser, does nothing)."""
    src = "dbk_hostile_src"
    pg.drop_db(src)
    pg.create_db(src)
    body = HOSTILE[name][1].format(marker=marker)
    with pg.connect(src) as conn:
        if "dblink" in body:
            conn.execute("CREATE EXTENSION dblink")
        conn.execute(
            "CREATE FUNCTION public.guard(i int) RETURNS boolean LANGUAGE plpgsql AS $f$ BEGIN "
            "IF current_database() LIKE '%\\_\\_dbk\\_scratch\\_%' THEN " + body + " END IF; RETURN true; END $f$")
        conn.execute("CREATE TABLE public.guarded (i int CHECK (public.guard(i)))")
        conn.execute("INSERT INTO public.guarded SELECT generate_series(1, 10)")
    dump_custom(pg, src, path)
    pg.drop_db(src)
    return path


def side_effects(pg, marker, victim):
    """What a hostile statement would have changed outside the scratch database."""
    found = []
    if marker.exists():
        found.append("a program ran")
    with pg.connect() as conn:  # the password still works
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (EVIL_ROLE,)).fetchone():
            found.append("a role was created")
        if conn.execute("SELECT count(*) FROM pg_file_settings WHERE name = 'work_mem'").fetchone()[0]:
            found.append("ALTER SYSTEM ran")
    if victim not in pg.databases():
        found.append("another database was dropped")
    return found


@pytest.mark.parametrize("name,fmt", CASES, ids=[f"{n}-{f}" for n, f in CASES])
def test_hostile_content_is_refused_and_changes_nothing(pg, pg_dbname, tmp_path, marker, victim, name, fmt):
    if fmt == "custom":
        path = custom_archive(pg, name, marker, tmp_path / "hostile.dump")
    else:
        sql = plain_sql(name, marker)
        path = tmp_path / "hostile.sql"
        path.write_text(sql)
        if fmt == "odoo":
            path = odoo_zip(tmp_path / "hostile.zip", sql)
    before = make_live(pg, pg_dbname)

    op = restore(pg, path, pg_dbname)

    assert op.status == "failed"
    assert REFUSED.search(op.error_message), op.error_message
    assert side_effects(pg, marker, victim) == []
    assert_unchanged_and_clean(pg, pg_dbname, before, op)
    assert throwaway_roles(pg) == []


def test_a_superuser_target_that_trusts_its_backups_runs_them_with_its_rights(pg, pg_dbname, tmp_path, marker, victim,
                                                                                settings):
    """The opposite check: the hostile statement above is refused because of
    the throwaway role, not by accident."""
    path = tmp_path / "hostile.sql"
    path.write_text(plain_sql("copy_to_program", marker))
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {"trusted": {"url": pg.url(pg_dbname), "trust": "superuser"}}}
    from dbkeeper.operations import runner, service

    op = service.create_restore(path, "trusted")
    runner.run(op.id)
    op.refresh_from_db()
    assert op.status == "succeeded", op.error_message
    assert marker.exists()
    assert throwaway_roles(pg) == []


def test_the_throwaway_role_is_member_of_nothing_and_owns_the_scratch(pg, pg_dbname, tmp_path):
    """What the content sees of itself, recorded by the content."""
    path = tmp_path / "whoami.sql"
    path.write_text(
        "CREATE TABLE public.whoami AS SELECT session_user::text AS who, "
        "(SELECT rolsuper OR rolcreaterole OR rolreplication OR rolbypassrls OR rolcreatedb FROM pg_roles "
        " WHERE rolname = session_user) AS privileged, "
        "(SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = session_user) AS memberships, "
        "(SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = current_database()) AS db_owner;\n")
    op = restore(pg, path, pg_dbname)
    assert op.status == "succeeded", op.error_message
    with pg.connect(pg_dbname) as conn:
        who, privileged, memberships, db_owner = conn.execute("SELECT * FROM whoami").fetchone()
    assert who.startswith(ROLE_PREFIX) and who == db_owner
    assert privileged is False and memberships == 0
    assert throwaway_roles(pg) == []


def test_pg_hba_refusing_the_throwaway_role_stops_before_anything_runs(pg, pg_dbname, tmp_path, marker):
    hba = pg.data / "pg_hba.conf"
    original = hba.read_text()
    # PostgreSQL 15 has no regular expressions for roles in pg_hba.conf: refuse
    # every password login over TCP except the test's own superuser's.
    hba.write_text("local all all trust\nhost all postgres all scram-sha-256\nhost all all all reject\n")
    try:
        with pg.connect() as conn:
            conn.execute("SELECT pg_reload_conf()")
        path = tmp_path / "ran.sql"
        path.write_text(f"COPY (SELECT 1) TO PROGRAM 'touch {marker}';\n")
        before = make_live(pg, pg_dbname)
        op = restore(pg, path, pg_dbname)
    finally:
        hba.write_text(original)
        with pg.connect() as conn:
            conn.execute("SELECT pg_reload_conf()")
    assert op.status == "failed" and op.error_code == "restore_role_refused"
    assert "pg_hba.conf" in op.error_message and "scram-sha-256" in op.error_message
    assert ROLE_PREFIX in op.error_message and "Nothing was restored" in op.error_message
    assert not marker.exists()
    assert_unchanged_and_clean(pg, pg_dbname, before, op)
    assert throwaway_roles(pg) == []


def test_a_privileged_role_that_cannot_create_roles_is_refused(pg, pg_dbname, tmp_path):
    role, password = "dbk_reader_of_files", "rf-pw-1"
    with pg.connect() as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} LOGIN CREATEDB PASSWORD '{password}' IN ROLE pg_read_server_files")
    try:
        path = tmp_path / "ok.sql"
        path.write_text("CREATE TABLE public.t (i int);\n")
        before = make_live(pg, pg_dbname)
        url = f"postgresql://{role}:{password}@127.0.0.1:{pg.port}/{pg_dbname}"
        from dbkeeper.operations import runner, service

        op = service.create_restore(path, url)
        runner.run(op.id)
        op.refresh_from_db()
        assert op.status == "failed" and op.error_code == "privileged_target"
        assert role in op.error_message and "pg_read_server_files" in op.error_message
        assert "trust: superuser" in op.error_message
        assert_unchanged_and_clean(pg, pg_dbname, before, op)
    finally:
        with pg.connect() as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_a_plain_application_role_restores_as_itself(pg, pg_dbname, tmp_path):
    """No throwaway role when the target's role is already unprivileged."""
    role, password = "dbk_plain_app", "pa-pw-1"
    with pg.connect() as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} LOGIN CREATEDB PASSWORD '{password}'")
    try:
        path = tmp_path / "ok.sql"
        path.write_text("CREATE TABLE public.t AS SELECT session_user::text AS who;\n")
        url = f"postgresql://{role}:{password}@127.0.0.1:{pg.port}/{pg_dbname}"
        from dbkeeper.operations import runner, service

        op = service.create_restore(path, url)
        runner.run(op.id)
        op.refresh_from_db()
        assert op.status == "succeeded", op.error_message
        with psycopg.connect(host="127.0.0.1", port=pg.port, user="postgres", password=PASSWORD,
                             dbname=pg_dbname) as conn:
            assert conn.execute("SELECT who FROM t").fetchone()[0] == role
    finally:
        pg.drop_db(pg_dbname)
        with pg.connect() as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_a_worker_killed_mid_restore_leaves_no_throwaway_role(pg, pg_dbname, tmp_path):
    import signal

    from .builders import make_big_pg_source, make_pg_source
    from .dbsnapshot import pg_snapshot
    from .live import LiveServer
    from .pipeline import conninfo
    from .live import wait_for

    make_big_pg_source(pg, "src_lp_kill", rows=1_500_000)
    dump = dump_custom(pg, "src_lp_kill", tmp_path / "big.dump")
    make_pg_source(pg, pg_dbname, rows=200, value="live")
    before = pg_snapshot(conninfo(pg, pg_dbname))
    server = LiveServer(tmp_path / "data")
    server.cli("migrate")
    server.start_worker()
    server.start_watchdog()
    try:
        op_id = server.start_restore(dump, pg.url(pg_dbname))
        wait_for(lambda: server.fast_state(op_id).get("stage") == "restoring", 60, "the restore to start")
        wait_for(lambda: throwaway_roles(pg), 10, "the throwaway role")
        server.kill("worker", signal.SIGKILL)
        state = wait_for(lambda: (s := server.operation(op_id))["status"] == "failed" and s, 40, "the watchdog")
        assert state["error_code"] == "worker_lost"
        wait_for(lambda: not server.operation(op_id)["scratch"], 10, "the scratch to be dropped")
        assert throwaway_roles(pg) == []
        assert not [d for d in pg.databases() if d.startswith(pg_dbname + "__")]
        assert pg_snapshot(conninfo(pg, pg_dbname)) == before
    finally:
        server.stop_all()
        pg.drop_db("src_lp_kill")


def test_a_createrole_admin_role_restores_through_a_throwaway_role(pg, pg_dbname, tmp_path):
    """Managed-cloud admin roles have CREATEROLE but are no superusers: the
    backup's SQL still runs as a throwaway role, and the hand-over works."""
    role, password = "dbk_cloud_admin", "ca-pw-1"
    with pg.connect() as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} LOGIN CREATEDB CREATEROLE PASSWORD '{password}'")
    try:
        path = tmp_path / "whoami.sql"
        path.write_text("CREATE TABLE public.whoami AS SELECT session_user::text AS who;\n")
        url = f"postgresql://{role}:{password}@127.0.0.1:{pg.port}/{pg_dbname}"
        from dbkeeper.operations import runner, service

        op = service.create_restore(path, url)
        runner.run(op.id)
        op.refresh_from_db()
        assert op.status == "succeeded", op.error_message
        with pg.connect(pg_dbname) as conn:
            who, owner = conn.execute("SELECT who, pg_get_userbyid(relowner) FROM whoami, pg_class "
                                      "WHERE relname = 'whoami'").fetchone()
        assert who.startswith(ROLE_PREFIX) and owner == f"{pg_dbname}_owner"
        assert throwaway_roles(pg) == []
    finally:
        pg.drop_db(pg_dbname)
        with pg.connect() as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE IF EXISTS {role}")
