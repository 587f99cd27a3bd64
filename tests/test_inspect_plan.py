"""``dbkeeper inspect FILE --target T`` says, before anything runs, how the
backup's SQL will run on that target and what dbkeeper will do about the
roles, extensions and privileged objects it needs; it changes nothing."""

import json

import pytest

from .builders import dump_custom, dump_plain
from .live import run_dbkeeper as dbkeeper
from .pipeline import throwaway_roles

SOURCE = "dbk_plan_source"


def test_inspect_with_a_target_says_what_a_restore_would_do(pg, pg_dbname, tmp_path):
    pg.drop_db(SOURCE)
    pg.create_db(SOURCE)
    with pg.connect() as conn:
        conn.execute("DROP ROLE IF EXISTS dbk_plan_reader")
        conn.execute("CREATE ROLE dbk_plan_reader")
    with pg.connect(SOURCE) as conn:
        conn.execute("CREATE EXTENSION pg_trgm")
        conn.execute("CREATE EXTENSION bloom")
        conn.execute("CREATE TABLE public.t (a int)")
        conn.execute("GRANT SELECT ON public.t TO dbk_plan_reader")
        conn.execute("CREATE FUNCTION public.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN NULL; END $$")
        conn.execute("CREATE EVENT TRIGGER dbk_plan_watch ON ddl_command_end EXECUTE FUNCTION public.on_ddl()")
    dumps = [dump_custom(pg, SOURCE, tmp_path / "plan.dump"), dump_plain(pg, SOURCE, tmp_path / "plan.sql")]
    pg.drop_db(SOURCE)
    databases = pg.databases()
    try:
        for dump in dumps:
            result = dbkeeper(tmp_path, "inspect", str(dump), "--target", pg.url(pg_dbname), "--json")
            assert result.returncode == 0, result.stderr
            plan = {row["object"]: row["action"] for row in json.loads(result.stdout)["plan"]}
            assert plan["the backup's SQL"].startswith("runs as a throwaway role without privileges")
            assert "postgres is a superuser" in plan["the backup's SQL"]
            assert plan["role dbk_plan_reader"] == "gets its objects back after the restore"
            assert plan["role postgres"] == f"is a superuser: its objects go to {pg_dbname}_owner"
            assert plan["extension pg_trgm"].startswith("created by the backup itself")
            assert plan["extension bloom"].startswith("needs a superuser: the restore fails")
            assert plan["event trigger dbk_plan_watch"] == "needs a superuser: the restore fails before the swap"
            shown = dbkeeper(tmp_path, "inspect", str(dump), "--target", pg.url(pg_dbname))
            assert "what dbkeeper will do" in shown.stdout and "dbk_plan_watch" in shown.stdout
        # Nothing was created: no database, no role.
        assert pg.databases() == databases and throwaway_roles(pg) == []
        with pg.connect() as conn:
            assert not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (f"{pg_dbname}_owner",)).fetchone()
    finally:
        with pg.connect() as conn:
            conn.execute("DROP ROLE IF EXISTS dbk_plan_reader")


@pytest.mark.django_db
def test_the_restore_page_asks_for_the_plan_of_a_stored_backup(pg, pg_dbname, tmp_path, settings, django_user_model):
    """GET /api/targets/NAME/plan/?backup=ID: the same plan, in the reader's language, for the page."""
    from django.test import Client

    from dbkeeper.backups import store

    pg.drop_db(SOURCE)
    pg.create_db(SOURCE)
    with pg.connect(SOURCE) as conn:
        conn.execute("CREATE EXTENSION bloom")
        conn.execute("CREATE TABLE public.t (a int)")
    dump = dump_custom(pg, SOURCE, tmp_path / "page.dump")
    pg.drop_db(SOURCE)
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {"shop": pg.url(pg_dbname)}}
    user = django_user_model.objects.create_user("planner", password="pw-plan", is_staff=True)
    client = Client()
    client.force_login(user)
    backup = store.add_file(dump, "page.dump", move=False)
    rows = client.get(f"/api/targets/shop/plan/?backup={backup.id}").json()["plan"]
    plan = {row["object"]: row["action"] for row in rows}
    assert plan["extension bloom"].startswith("needs a superuser")
    assert plan["the backup's SQL"].startswith("runs as a throwaway role")
    assert client.get("/api/targets/nothing/plan/?backup=x").json()["error"]["code"] == "target_unknown"
    assert client.get("/api/targets/shop/plan/?backup=nothing").json()["error"]["code"] == "backup_missing"
