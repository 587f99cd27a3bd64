"""A restored database keeps who it belongs to: restoring through a superuser
target over a live database owned by the application's role keeps its owner,
grants, settings, comment and connection limit, gives no object to a
superuser, and leaves the application able to create tables in public."""

import psycopg
import pytest

from .builders import dump_custom, dump_plain
from .pipeline import events, restore

pytestmark = pytest.mark.django_db(transaction=True)

APP, APP_PASSWORD = "dbk_ident_app", "app-ident-pw"
REPORTER = "dbk_ident_reporter"
SOURCE = "dbk_ident_source"

# Raises when run by a superuser anywhere but in the source database, so that
# ANALYZE (expression index), a call (SECURITY DEFINER) or a CHECK show it.
GUARD = f"""
CREATE FUNCTION public.not_as_superuser(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
  IF current_database() <> '{SOURCE}' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RAISE EXCEPTION 'backup code ran as superuser %', current_user;
  END IF;
  RETURN i;
END $f$
"""


@pytest.fixture(scope="module")
def roles(pg):
    with pg.connect() as conn:
        for role in (APP, REPORTER):
            conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {APP} LOGIN PASSWORD '{APP_PASSWORD}'")
        conn.execute(f"CREATE ROLE {REPORTER} NOLOGIN")
    yield
    for db in pg.databases():
        if db.startswith("t_test_") or db == SOURCE:
            pg.drop_db(db)
    with pg.connect() as conn:
        for role in (APP, REPORTER):
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE IF EXISTS {role}")


@pytest.fixture(scope="module")
def dumps(pg, roles, tmp_path_factory):
    """A source owned by postgres (the usual superuser dump) with objects run
    by the server later, and one table owned by an unprivileged role."""
    pg.drop_db(SOURCE)
    pg.create_db(SOURCE)
    with pg.connect(SOURCE) as conn:
        conn.execute(GUARD)
        conn.execute("CREATE TABLE public.items (id int PRIMARY KEY, label text)")
        conn.execute("INSERT INTO public.items SELECT g, 'item ' || g FROM generate_series(1, 200) g")
        conn.execute("CREATE INDEX items_guarded ON public.items (public.not_as_superuser(id))")
        conn.execute("CREATE FUNCTION public.definer() RETURNS int LANGUAGE sql SECURITY DEFINER "
                     "AS 'SELECT public.not_as_superuser(1)'")
        conn.execute("CREATE SCHEMA reports")
        conn.execute("CREATE TABLE reports.daily (day date, total numeric)")
        conn.execute(f"ALTER TABLE reports.daily OWNER TO {REPORTER}")
        conn.execute("CREATE VIEW public.labels AS SELECT label FROM public.items")
        # Default privileges: re-applied for the application's role, left out for the superuser.
        conn.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE {APP} IN SCHEMA public GRANT SELECT ON TABLES TO {REPORTER}")
        conn.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {REPORTER}")
    folder = tmp_path_factory.mktemp("identity")
    plain = dump_plain(pg, SOURCE, folder / "source.sql")
    # The backup's own database settings: replaced by the live database's.
    plain.write_text(plain.read_text() + "\nDO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET work_mem = ''64MB''', "
                     "current_database()); END $$;\n")
    return {"custom": dump_custom(pg, SOURCE, folder / "source.dump"), "plain": plain}


def make_app_live(pg, name):
    pg.drop_db(name)
    with pg.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}" OWNER {APP}')
        conn.execute(f'REVOKE CONNECT, TEMPORARY ON DATABASE "{name}" FROM PUBLIC')
        conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO {APP}')
        conn.execute(f'ALTER DATABASE "{name}" SET work_mem = \'12MB\'')
        conn.execute(f'ALTER DATABASE "{name}" SET search_path = "$user", public, reports')
        conn.execute(f'ALTER ROLE {APP} IN DATABASE "{name}" SET statement_timeout = \'7s\'')
        conn.execute(f'COMMENT ON DATABASE "{name}" IS \'the shop''s data\'')
        conn.execute(f'ALTER DATABASE "{name}" CONNECTION LIMIT 40')


def identity(pg, name):
    with pg.connect() as conn:
        row = conn.execute(
            "SELECT pg_get_userbyid(d.datdba), d.datacl::text[], d.datconnlimit, shobj_description(d.oid, 'pg_database'), "
            "pg_encoding_to_char(d.encoding), d.datcollate, t.spcname "
            "FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace WHERE datname = %s", (name,)).fetchone()
        settings = conn.execute(
            "SELECT COALESCE(r.rolname, ''), s.setconfig FROM pg_db_role_setting s "
            "JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole "
            "WHERE d.datname = %s ORDER BY 1", (name,)).fetchall()
    return {"owner": row[0], "acl": sorted(row[1] or []), "connlimit": row[2], "comment": row[3],
            "encoding": row[4], "collate": row[5], "tablespace": row[6], "settings": settings}


def superuser_owned(pg, name):
    with pg.connect(name) as conn:
        return conn.execute("""
            SELECT 'relation ' || c.oid::regclass::text FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
             WHERE r.rolsuper AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace,
                                                         'pg_toast'::regnamespace)
            UNION ALL
            SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
             WHERE r.rolsuper AND p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
            UNION ALL
            SELECT 'schema ' || n.nspname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
             WHERE r.rolsuper AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
               AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
            UNION ALL
            SELECT 'type ' || t.oid::regtype::text FROM pg_type t JOIN pg_roles r ON r.oid = t.typowner
             WHERE r.rolsuper AND t.typnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace,
                                                          'pg_toast'::regnamespace)
            UNION ALL
            SELECT 'database ' || d.datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
             WHERE r.rolsuper AND d.datname = current_database()
        """).fetchall()


@pytest.mark.parametrize("fmt", ["custom", "plain"])
def test_restore_over_an_application_database_keeps_its_identity(pg, pg_dbname, dumps, fmt):
    make_app_live(pg, pg_dbname)
    before = identity(pg, pg_dbname)
    assert before["owner"] == APP and before["connlimit"] == 40

    op = restore(pg, dumps[fmt], pg_dbname)
    assert op.status == "succeeded", op.error_message

    after = identity(pg, pg_dbname)
    assert after == before
    assert not any("64MB" in str(config) for _, config in after["settings"])
    # Objects: the backup's unprivileged owner gets its table back, the rest goes to the live owner.
    with pg.connect(pg_dbname) as conn:
        owners = dict(conn.execute(
            "SELECT c.relnamespace::regnamespace::text || '.' || c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
            "WHERE c.relnamespace IN ('public'::regnamespace, 'reports'::regnamespace) AND c.relkind IN ('r', 'v')"))
        schema_owner = conn.execute("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'reports'").fetchone()[0]
    assert owners == {"public.items": APP, "public.labels": APP, "reports.daily": REPORTER}
    assert schema_owner == APP
    assert superuser_owned(pg, pg_dbname) == []
    # The application connects (the grant holds) and creates a table in public (PostgreSQL 15's rule).
    with psycopg.connect(host="127.0.0.1", port=pg.port, user=APP, password=APP_PASSWORD, dbname=pg_dbname,
                         autocommit=True) as conn:
        assert conn.execute("SHOW work_mem").fetchone()[0] == "12MB"
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "7s"
        conn.execute("CREATE TABLE public.after_restore (id int)")
        conn.execute("SELECT public.definer()")
    # The backup's code runs as its (unprivileged) owner when a superuser analyzes or calls it.
    with pg.connect(pg_dbname) as conn:
        conn.execute("ANALYZE public.items")
        assert conn.execute("SELECT public.definer()").fetchone()[0] == 1
    assert any("went back to" in m for m in events(op))
    with pg.connect(pg_dbname) as conn:
        defaults = conn.execute("SELECT pg_get_userbyid(defaclrole), defaclacl::text FROM pg_default_acl").fetchall()
        assert [role for role, _ in defaults] == [APP] and REPORTER in defaults[0][1]
        grantee = conn.execute("SELECT grantee FROM information_schema.role_table_grants "
                               "WHERE table_name = 'after_restore' AND privilege_type = 'SELECT'").fetchall()
    assert (REPORTER,) in grantee
    assert any("re-applied 1 default privilege setting" in m for m in events(op))
    assert any("default privileges for postgres were left out" in m for m in events(op))


def test_a_new_database_goes_to_an_unprivileged_owner_role(pg, pg_dbname, dumps):
    op = restore(pg, dumps["custom"], pg_dbname)
    assert op.status == "succeeded", op.error_message
    owner = f"{pg_dbname}_owner"
    assert identity(pg, pg_dbname)["owner"] == owner
    assert superuser_owned(pg, pg_dbname) == []
    with pg.connect() as conn:
        assert conn.execute("SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = %s", (owner,)).fetchone() == (False, False)
    assert any(owner in m and "cannot log in" in m for m in events(op))
    with pg.connect(pg_dbname) as conn:
        conn.execute("ANALYZE public.items")


def test_the_configured_owner_role_gets_what_the_superuser_owned(pg, pg_dbname, dumps, settings):
    pg.drop_db(pg_dbname)
    pg.create_db(pg_dbname)  # owned by postgres: the configured owner takes its place
    settings.DBKEEPER = {**settings.DBKEEPER,
                         "TARGETS": {"shop": {"url": pg.url(pg_dbname), "owner": APP}}}
    from dbkeeper.operations import runner, service

    op = service.create_restore(dumps["custom"], "shop")
    runner.run(op.id)
    op.refresh_from_db()
    assert op.status == "succeeded", op.error_message
    with pg.connect(pg_dbname) as conn:
        assert conn.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'items'").fetchone()[0] == APP


def test_the_guard_sees_a_superuser_when_the_target_trusts_its_backups(pg, pg_dbname, dumps, settings):
    """The control for the checks above: with full trust the backup's code
    runs as the superuser (here its index build), and the guard says so."""
    settings.DBKEEPER = {**settings.DBKEEPER,
                         "TARGETS": {"trusted": {"url": pg.url(pg_dbname), "trust": "superuser"}}}
    from dbkeeper.operations import runner, service

    op = service.create_restore(dumps["custom"], "trusted")
    runner.run(op.id)
    op.refresh_from_db()
    assert op.status == "failed" and "backup code ran as superuser postgres" in op.error_message


def test_the_example_project_restores_as_before_and_migrates_as_its_own_role(pg, pg_dbname, roles, tmp_path):
    """The example project's dump, restored through a superuser target over a
    database its role owns: the same data as the source, no superuser-owned
    object, and the project's migrate, connected as its role, can drop and
    create its tables in public again."""
    from .dbsnapshot import pg_snapshot
    from .hostproject import HostProject
    from .pipeline import conninfo

    source_db = "dbk_ident_example"
    pg.drop_db(source_db)
    pg.create_db(source_db)
    project = HostProject(tmp_path / "host", pg.url(source_db))
    project.manage("migrate", "-v0")
    project.manage("seed_shop", "--objects", "50")
    dump = dump_custom(pg, source_db, tmp_path / "example.dump")
    expected = pg_snapshot(conninfo(pg, source_db))
    pg.drop_db(source_db)
    make_app_live(pg, pg_dbname)

    op = restore(pg, dump, pg_dbname)
    assert op.status == "succeeded", op.error_message
    assert pg_snapshot(conninfo(pg, pg_dbname)) == expected
    assert superuser_owned(pg, pg_dbname) == []
    as_app = project.using(f"postgresql://{APP}:{APP_PASSWORD}@127.0.0.1:{pg.port}/{pg_dbname}")
    as_app.manage("migrate", "shop", "zero", "-v0")
    as_app.manage("migrate", "-v0")
    with pg.connect(pg_dbname) as conn:
        owners = {r[0] for r in conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'public'::regnamespace")}
    assert owners == {APP}


@pytest.mark.parametrize("fmt", ["custom", "plain"])
def test_a_pgbench_dump_restores_as_before_through_a_superuser_target(pg, pg_dbname, tmp_path, fmt):
    from .dbsnapshot import pg_snapshot
    from .pipeline import conninfo

    source_db = "dbk_ident_pgbench"
    pg.drop_db(source_db)
    pg.create_db(source_db)
    pg.tool("pgbench", "-i", "-q", "-s", "1", dbname=source_db)
    dump = (dump_custom if fmt == "custom" else dump_plain)(pg, source_db, tmp_path / f"pgbench.{fmt}")
    expected = pg_snapshot(conninfo(pg, source_db))
    pg.drop_db(source_db)
    op = restore(pg, dump, pg_dbname)
    assert op.status == "succeeded", op.error_message
    assert pg_snapshot(conninfo(pg, pg_dbname)) == expected
    assert superuser_owned(pg, pg_dbname) == []
    with pg.connect(pg_dbname) as conn:
        owners = {r[0] for r in conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'public'::regnamespace")}
    assert owners == {f"{pg_dbname}_owner"}
