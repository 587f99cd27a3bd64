"""Extensions and superuser-only objects through a superuser target whose
backups run as a throwaway role: trusted extensions come from the backup
itself; others only when the live database has them or the target lists them
(then dbkeeper creates them, a schema they go into included); an event
trigger needs full trust, and fails the restore before the swap, naming it,
without it."""

import pytest

from dbkeeper.engines.pg_custom import PgCustomEngine
from dbkeeper.engines.pg_plain import PgPlainEngine

from .builders import dump_custom, dump_plain
from .pipeline import assert_unchanged_and_clean, make_live, restore
from .pipeline import throwaway_roles

pytestmark = pytest.mark.django_db(transaction=True)

SOURCE = "dbk_ext_source"


def make_source(pg, *statements):
    pg.drop_db(SOURCE)
    pg.create_db(SOURCE)
    with pg.connect(SOURCE) as conn:
        for statement in statements:
            conn.execute(statement)


def dumps(pg, tmp_path):
    out = {"custom": dump_custom(pg, SOURCE, tmp_path / "ext.dump"), "plain": dump_plain(pg, SOURCE, tmp_path / "ext.sql")}
    pg.drop_db(SOURCE)
    return out


def restore_to(pg, path, name, spec=None, settings=None):
    if spec is None:
        return restore(pg, path, name)
    from dbkeeper.operations import runner, service

    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {"t": {"url": pg.url(name), **spec}}}
    op = service.create_restore(path, "t")
    runner.run(op.id)
    op.refresh_from_db()
    return op


def extensions(pg, name):
    with pg.connect(name) as conn:
        return dict(conn.execute("SELECT e.extname, n.nspname FROM pg_extension e "
                                 "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql'"))


UNTRUSTED = (
    "CREATE SCHEMA ext",
    "CREATE EXTENSION pg_buffercache WITH SCHEMA ext",
    "CREATE EXTENSION bloom",
    "CREATE TABLE public.t (a int, b int)",
    "INSERT INTO public.t SELECT g, g FROM generate_series(1, 100) g",
    "CREATE INDEX t_bloom ON public.t USING bloom (a, b)",
)


@pytest.mark.parametrize("fmt", ["custom", "plain"])
def test_a_trusted_extension_is_created_by_the_backup(pg, pg_dbname, tmp_path, fmt):
    make_source(pg, "CREATE EXTENSION pg_trgm", "CREATE TABLE public.w (t text)",
                "INSERT INTO public.w SELECT 'word ' || g FROM generate_series(1, 50) g",
                "CREATE INDEX w_trgm ON public.w USING gin (t gin_trgm_ops)")
    op = restore(pg, dumps(pg, tmp_path)[fmt], pg_dbname)
    assert op.status == "succeeded", op.error_message
    assert extensions(pg, pg_dbname) == {"pg_trgm": "public"}
    assert throwaway_roles(pg) == []


@pytest.mark.parametrize("fmt", ["custom", "plain"])
def test_an_untrusted_extension_the_live_database_lacks_is_refused_by_name(pg, pg_dbname, tmp_path, fmt):
    make_source(pg, *UNTRUSTED)
    path = dumps(pg, tmp_path)[fmt]
    engine = PgCustomEngine() if fmt == "custom" else PgPlainEngine()
    assert engine.inspect(path).details["needs"]["extensions"] == {"bloom": "public", "pg_buffercache": "ext"}
    before = make_live(pg, pg_dbname)
    op = restore(pg, path, pg_dbname)
    assert op.status == "failed"
    assert "permission denied to create extension" in op.error_message
    assert '"pg_buffercache"' in op.error_message or '"bloom"' in op.error_message
    assert_unchanged_and_clean(pg, pg_dbname, before, op)
    assert throwaway_roles(pg) == []


@pytest.mark.parametrize("fmt", ["custom", "plain"])
def test_untrusted_extensions_the_target_lists_are_created_by_dbkeeper(pg, pg_dbname, tmp_path, fmt, settings):
    make_source(pg, *UNTRUSTED)
    path = dumps(pg, tmp_path)[fmt]
    op = restore_to(pg, path, pg_dbname, {"extensions": ["bloom", "pg_buffercache"]}, settings)
    assert op.status == "succeeded", op.error_message
    assert extensions(pg, pg_dbname) == {"bloom": "public", "pg_buffercache": "ext"}
    with pg.connect(pg_dbname) as conn:
        assert conn.execute("SELECT count(*) FROM t WHERE a = 7").fetchone()[0] == 1
        assert conn.execute("SELECT obj_description(oid, 'pg_extension') FROM pg_extension "
                            "WHERE extname = 'bloom'").fetchone()[0]
    assert throwaway_roles(pg) == []


def test_an_untrusted_extension_of_the_live_database_is_created_by_dbkeeper(pg, pg_dbname, tmp_path):
    make_source(pg, *UNTRUSTED)
    path = dumps(pg, tmp_path)["plain"]
    make_live(pg, pg_dbname)
    with pg.connect(pg_dbname) as conn:
        conn.execute("CREATE EXTENSION bloom")
        conn.execute("CREATE EXTENSION pg_buffercache")
    op = restore(pg, path, pg_dbname)
    assert op.status == "succeeded", op.error_message
    assert extensions(pg, pg_dbname) == {"bloom": "public", "pg_buffercache": "ext"}


EVENT_TRIGGER = (
    "CREATE TABLE public.t (i int)",
    "CREATE FUNCTION public.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN NULL; END $$",
    "CREATE EVENT TRIGGER dbk_watch_ddl ON ddl_command_end EXECUTE FUNCTION public.on_ddl()",
)


@pytest.mark.parametrize("fmt", ["custom", "plain"])
def test_an_event_trigger_needs_full_trust(pg, pg_dbname, tmp_path, fmt, settings):
    make_source(pg, *EVENT_TRIGGER)
    path = dumps(pg, tmp_path)[fmt]
    engine = PgCustomEngine() if fmt == "custom" else PgPlainEngine()
    assert engine.inspect(path).details["needs"]["event_triggers"] == ["dbk_watch_ddl"]

    before = make_live(pg, pg_dbname)
    op = restore(pg, path, pg_dbname)
    assert op.status == "failed" and "dbk_watch_ddl" in op.error_message, op.error_message
    assert_unchanged_and_clean(pg, pg_dbname, before, op)

    op = restore_to(pg, path, pg_dbname, {"trust": "superuser"}, settings)
    assert op.status == "succeeded", op.error_message
    with pg.connect(pg_dbname) as conn:
        assert conn.execute("SELECT evtname FROM pg_event_trigger").fetchall() == [("dbk_watch_ddl",)]
    assert throwaway_roles(pg) == []


def test_an_extension_the_backup_puts_in_a_system_schema_is_refused(pg, pg_dbname, tmp_path, settings):
    path = tmp_path / "sys.sql"
    path.write_text("CREATE EXTENSION IF NOT EXISTS pg_buffercache WITH SCHEMA pg_catalog;\nCREATE TABLE public.t (i int);\n")
    before = make_live(pg, pg_dbname)
    op = restore_to(pg, path, pg_dbname, {"extensions": ["pg_buffercache"]}, settings)
    assert op.status == "failed" and op.error_code == "extension_schema"
    assert "pg_buffercache" in op.error_message and "pg_catalog" in op.error_message
    assert_unchanged_and_clean(pg, pg_dbname, before, op)
    assert throwaway_roles(pg) == []
