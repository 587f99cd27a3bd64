"""Backups that act as other roles, and large objects, through a superuser
target (the content runs as a throwaway role).

pg_dump --use-set-session-authorization (and pg_restore with it, writing a
script) says who owns each object by switching the session's role before
creating it; a hand-written script may SET ROLE. The throwaway role may do
neither: dbkeeper leaves those statements out and gives the objects made
after one to the role it named, when that role exists and is unprivileged.
Large objects go back to their owners in the backup like other objects. A
switch dbkeeper cannot leave out (inside a DO block) fails the restore with a
sentence that says why and what to do."""

import psycopg
import pytest

from dbkeeper.engines.sqlscan import SqlScanner
from dbkeeper.targets.pgroles import created_object, role_switch, statement_roles

from .builders import dump_custom, dump_plain
from .pipeline import assert_unchanged_and_clean, events, make_live, restore, throwaway_roles

SOURCE = "dbk_switch_source"
ALICE, BOB = "dbk_switch_alice", "dbk_switch_bob"


def statements(text):
    found = []
    scanner = SqlScanner(on_statement=found.append)
    scanner.feed(text.encode())
    scanner.finish()
    return found


@pytest.mark.parametrize("text, expected", [
    ("SET SESSION AUTHORIZATION 'alice';", ("session authorization", "alice")),
    ("SET SESSION AUTHORIZATION alice;", ("session authorization", "alice")),
    ('SET SESSION SESSION AUTHORIZATION "Alice";', ("session authorization", "Alice")),
    ("SET LOCAL SESSION AUTHORIZATION alice;", ("session authorization", "alice")),
    ("SET SESSION AUTHORIZATION DEFAULT;", ("session authorization", None)),
    ("RESET SESSION AUTHORIZATION;", ("session authorization", None)),
    ("SET ROLE alice;", ("role", "alice")),
    ("set local role 'alice';", ("role", "alice")),
    ("SET ROLE NONE;", ("role", None)),
    ("RESET ROLE;", ("role", None)),
    ("SET role TO alice;", ("role", "alice")),
    ("SET role = 'alice';", ("role", "alice")),
    ("SET session_authorization TO alice;", ("session authorization", "alice")),
    ("SET search_path = alice;", None),
    ("SET rolex TO alice;", None),
    ("SELECT 'SET ROLE alice';", None),
    ("SET ROLE alice, bob;", None),
])
def test_role_switches_are_recognised(text, expected):
    (statement,) = statements(text)
    assert role_switch(statement) == expected
    if expected and expected[1]:
        assert statement_roles(statement) == ([expected[1]], [])


@pytest.mark.parametrize("text, expected", [
    ("CREATE TABLE public.t (i int);", ("relation", "public", "t")),
    ("CREATE UNLOGGED TABLE s.t (i int);", ("relation", "s", "t")),
    ('CREATE TABLE "S"."T" (i int);', ("relation", "S", "T")),
    ("CREATE TABLE t (i int);", ("relation", "public", "t")),
    ("CREATE TEMP TABLE t (i int);", None),
    ("CREATE OR REPLACE VIEW s.v AS SELECT 1;", ("relation", "s", "v")),
    ("CREATE MATERIALIZED VIEW s.m AS SELECT 1;", ("relation", "s", "m")),
    ("CREATE SEQUENCE s.q START 1;", ("relation", "s", "q")),
    ("CREATE FUNCTION s.f(integer) RETURNS integer LANGUAGE sql AS $$select 1$$;", ("routine", "s", "f")),
    ("CREATE SCHEMA s;", ("schema", "", "s")),
    ("CREATE SCHEMA IF NOT EXISTS s;", ("schema", "", "s")),
    ("CREATE SCHEMA AUTHORIZATION bob;", None),
    ("CREATE TYPE s.mood AS ENUM ('a');", ("type", "s", "mood")),
    ("CREATE DOMAIN s.pos AS int;", ("type", "s", "pos")),
    ("SELECT pg_catalog.lo_create('16390');", ("large object", "", "16390")),
    ("SELECT lo_create(16390);", ("large object", "", "16390")),
    ("SELECT lo_create(0);", None),
    ("CREATE INDEX i ON s.t (i);", None),
    ("SELECT pg_catalog.lo_open('16390', 131072);", None),
])
def test_created_objects_are_named_as_the_hand_over_keys_them(text, expected):
    (statement,) = statements(text)
    assert created_object(statement) == expected


# -- on the server ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def source(pg, tmp_path_factory):
    """Objects and large objects owned by two unprivileged roles and by the superuser."""
    with pg.connect() as conn:
        for role in (ALICE, BOB):
            conn.execute(f"DROP OWNED BY {role}") if conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() else None
            conn.execute(f"DROP ROLE IF EXISTS {role}")
            conn.execute(f"CREATE ROLE {role} NOLOGIN")
    pg.drop_db(SOURCE)
    pg.create_db(SOURCE)
    with pg.connect(SOURCE) as conn:
        conn.execute(f"CREATE SCHEMA shop AUTHORIZATION {BOB}")
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {ALICE}")
        conn.execute(f"SET ROLE {ALICE}")
        conn.execute("CREATE TABLE public.notes (id int PRIMARY KEY, body text)")
        conn.execute("INSERT INTO public.notes SELECT g, 'note ' || g FROM generate_series(1, 50) g")
        conn.execute("SELECT lo_from_bytea(424242, 'alice''s bytes')")
        conn.execute(f"SET ROLE {BOB}")
        conn.execute("CREATE TABLE shop.orders (id int PRIMARY KEY, total numeric)")
        conn.execute("INSERT INTO shop.orders SELECT g, g * 1.5 FROM generate_series(1, 20) g")
        conn.execute("CREATE FUNCTION shop.twice(i int) RETURNS int LANGUAGE sql AS 'SELECT 2 * i'")
        conn.execute("SELECT lo_from_bytea(434343, 'bob''s bytes')")
        conn.execute("RESET ROLE")
        conn.execute("CREATE TABLE public.audit (at timestamptz)")  # the superuser's
        conn.execute("SELECT lo_from_bytea(454545, 'the superuser''s bytes')")
    folder = tmp_path_factory.mktemp("switch")
    custom = dump_custom(pg, SOURCE, folder / "source.dump")
    script = folder / "restored-script.sql"
    pg.tool("pg_restore", "--use-set-session-authorization", "-f", str(script), str(custom))
    yield {
        "plain": dump_plain(pg, SOURCE, folder / "source.sql"),
        "plain_set_session_authorization": dump_plain(pg, SOURCE, folder / "sessauth.sql",
                                                      "--use-set-session-authorization"),
        "custom": custom,
        "pg_restore_set_session_authorization": script,
    }
    pg.drop_db(SOURCE)
    for db in pg.databases():
        if db.startswith("t_test_"):
            pg.drop_db(db)
    with pg.connect() as conn:
        for role in (ALICE, BOB):
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def owners(pg, dbname):
    with pg.connect(dbname) as conn:
        relations = dict(conn.execute(
            "SELECT c.relnamespace::regnamespace::text || '.' || c.relname, pg_get_userbyid(c.relowner) "
            "FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace::regnamespace::text IN ('public', 'shop')"))
        others = {
            "schema shop": conn.execute(
                "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'shop'").fetchone()[0],
            "function shop.twice": conn.execute(
                "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'twice'").fetchone()[0],
        }
        large = {oid: (owner, bytes(data)) for oid, owner, data in conn.execute(
            "SELECT m.oid::int, pg_get_userbyid(m.lomowner), lo_get(m.oid) FROM pg_largeobject_metadata m")}
    return relations, others, large


DUMPS = ["plain", "plain_set_session_authorization", "custom", "pg_restore_set_session_authorization"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", DUMPS)
def test_objects_and_large_objects_go_back_to_their_owners(pg, pg_dbname, source, kind):
    op = restore(pg, source[kind], pg_dbname)
    assert op.status == "succeeded", op.error_message
    default = f"{pg_dbname}_owner"  # no live database, and the superuser's objects never stay its own
    relations, others, large = owners(pg, pg_dbname)
    assert relations == {"public.notes": ALICE, "shop.orders": BOB, "public.audit": default}
    assert others == {"schema shop": BOB, "function shop.twice": BOB}
    assert large == {424242: (ALICE, b"alice's bytes"), 434343: (BOB, b"bob's bytes"),
                     454545: (default, b"the superuser's bytes")}
    with pg.connect(pg_dbname) as conn:
        assert conn.execute("SELECT count(*) FROM public.notes").fetchone()[0] == 50
        assert conn.execute("SELECT count(*) FROM shop.orders").fetchone()[0] == 20
    assert throwaway_roles(pg) == []
    if "set_session_authorization" in kind:
        assert any("SET SESSION AUTHORIZATION" in m and ALICE in m and BOB in m for m in events(op))


@pytest.mark.django_db(transaction=True)
def test_a_script_that_sets_role_gives_its_objects_to_that_role(pg, pg_dbname, source, tmp_path):
    path = tmp_path / "setrole.sql"
    path.write_text(
        f"SET ROLE {ALICE};\n"
        "CREATE TABLE public.mine (i int);\n"
        "SELECT lo_create(515151);\n"
        f"SET role TO '{BOB}';\n"
        "CREATE SCHEMA theirs;\n"
        "CREATE TABLE theirs.t (i int);\n"
        "RESET ROLE;\n"
        "CREATE TABLE public.nobodys (i int);\n"
        "SET ROLE dbk_switch_nobody;\n"  # a role the server lacks: its objects go to the default owner
        "CREATE TABLE public.orphan (i int);\n")
    op = restore(pg, path, pg_dbname)
    assert op.status == "succeeded", op.error_message
    default = f"{pg_dbname}_owner"
    with pg.connect(pg_dbname) as conn:
        found = dict(conn.execute(
            "SELECT c.relnamespace::regnamespace::text || '.' || c.relname, pg_get_userbyid(c.relowner) "
            "FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace::regnamespace::text IN ('public', 'theirs')"))
        schema = conn.execute("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'theirs'").fetchone()
        lo = conn.execute("SELECT pg_get_userbyid(lomowner) FROM pg_largeobject_metadata WHERE oid = 515151").fetchone()
    assert found == {"public.mine": ALICE, "theirs.t": BOB, "public.nobodys": default, "public.orphan": default}
    assert schema == (BOB,) and lo == (ALICE,)
    assert throwaway_roles(pg) == []


@pytest.mark.django_db(transaction=True)
def test_a_role_switch_dbkeeper_cannot_leave_out_fails_with_what_to_do(pg, pg_dbname, source, tmp_path):
    path = tmp_path / "hidden-switch.sql"
    path.write_text("CREATE TABLE public.t (i int);\n"
                    f"DO $$ BEGIN EXECUTE 'SET ROLE {ALICE}'; END $$;\n"
                    "CREATE TABLE public.u (i int);\n")
    before = make_live(pg, pg_dbname)
    op = restore(pg, path, pg_dbname)
    assert op.status == "failed"
    assert "permission denied to set role" in op.error_message
    assert "SET ROLE" in op.error_message and "trust: superuser" in op.error_message
    assert_unchanged_and_clean(pg, pg_dbname, before, op)
    assert throwaway_roles(pg) == []


@pytest.mark.django_db(transaction=True)
def test_a_plain_role_target_leaves_out_switches_to_roles_it_is_not(pg, pg_dbname, source, tmp_path):
    """Without a throwaway role: a switch to a role the target's role is not a
    member of is left out like SET SESSION AUTHORIZATION always was."""
    role, password = "dbk_switch_plain", "sw-pw-1"
    with pg.connect() as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} LOGIN CREATEDB PASSWORD '{password}'")
    try:
        from dbkeeper.operations import runner, service

        url = f"postgresql://{role}:{password}@127.0.0.1:{pg.port}/{pg_dbname}"
        op = service.create_restore(source["plain_set_session_authorization"], url)
        runner.run(op.id)
        op.refresh_from_db()
        assert op.status == "succeeded", op.error_message
        with pg.connect(pg_dbname) as conn:
            assert {r[0] for r in conn.execute(
                "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class "
                "WHERE relkind = 'r' AND relnamespace::regnamespace::text IN ('public', 'shop')")} == {role}
            assert conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()[0] == 3
    finally:
        pg.drop_db(pg_dbname)
        with pg.connect() as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("switch", [f"SET ROLE {ALICE}", f"SET SESSION AUTHORIZATION {ALICE}"])
def test_a_switch_inside_an_archive_fails_with_what_to_do(pg, pg_dbname, source, tmp_path, switch):
    """A custom-format archive carries SQL only in entries pg_restore runs
    whole: a switch there (here in a function a CHECK constraint calls while
    the data loads, and only in a scratch copy) fails the restore."""
    src = "dbk_switch_archive_src"
    pg.drop_db(src)
    pg.create_db(src)
    with pg.connect(src) as conn:
        conn.execute(
            "CREATE FUNCTION public.guard(i int) RETURNS boolean LANGUAGE plpgsql AS $f$ BEGIN "
            "IF current_database() LIKE '%\\_\\_dbk\\_scratch\\_%' THEN EXECUTE '" + switch + "'; END IF; "
            "RETURN true; END $f$")
        conn.execute("CREATE TABLE public.guarded (i int CHECK (public.guard(i)))")
        conn.execute("INSERT INTO public.guarded SELECT generate_series(1, 10)")
    path = dump_custom(pg, src, tmp_path / "switch.dump")
    pg.drop_db(src)
    before = make_live(pg, pg_dbname)
    op = restore(pg, path, pg_dbname)
    assert op.status == "failed"
    assert "permission denied to set" in op.error_message
    assert "SET SESSION AUTHORIZATION" in op.error_message and "trust: superuser" in op.error_message
    assert_unchanged_and_clean(pg, pg_dbname, before, op)
    assert throwaway_roles(pg) == []
