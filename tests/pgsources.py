"""The PostgreSQL databases the engine tests restore, built once per session
and dumped in the formats the engines read (custom and plain SQL)."""

import gzip

import pytest

from .builders import dump_custom, dump_plain

CUSTOM_SOURCE_TABLES = {"public.customers", "public.notes", "shop.orders", "shop.lines", "audit.events"}
PLAIN_SOURCE_TABLES = {"public.people", "shop.orders", "Audit Trail.Event Log", "shop.empty"}


def build_custom_source(pg, name):
    """Several schemas, an index, sequences, a view, some thousand rows, bytea and unicode text."""
    pg.drop_db(name)
    pg.create_db(name)
    with pg.connect(name) as conn:
        conn.execute("CREATE SCHEMA shop; CREATE SCHEMA audit")
        conn.execute("CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, photo bytea)")
        conn.execute(
            "INSERT INTO customers (name, photo) SELECT 'Zoë Ångström ✓ مرحبا ' || g, "
            "decode(md5(g::text) || md5((g * 3)::text), 'hex') FROM generate_series(1, 3000) g"
        )
        conn.execute("CREATE TABLE notes (id bigint PRIMARY KEY, body text)")
        conn.execute("INSERT INTO notes SELECT g, repeat('note ' || g || E' tab\\there\\nnewline ', 3) FROM generate_series(1, 2000) g")
        conn.execute("CREATE SEQUENCE shop.order_no START 1000")
        conn.execute(
            "CREATE TABLE shop.orders (id int PRIMARY KEY DEFAULT nextval('shop.order_no'), "
            "customer_id int REFERENCES customers(id), total numeric(12,2), placed timestamptz)"
        )
        conn.execute(
            "INSERT INTO shop.orders (customer_id, total, placed) SELECT 1 + g % 3000, g / 7.0, "
            "'2024-01-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, 4000) g"
        )
        conn.execute("CREATE TABLE shop.lines (order_id int REFERENCES shop.orders(id), sku text, qty int)")
        conn.execute("INSERT INTO shop.lines SELECT 1000 + g % 4000, 'SKU-' || g, g % 9 FROM generate_series(1, 5000) g")
        conn.execute("CREATE INDEX lines_sku ON shop.lines (sku)")
        conn.execute("CREATE TABLE audit.events (at timestamptz, what text)")  # empty table
        conn.execute("CREATE VIEW shop.order_totals AS SELECT customer_id, sum(total) FROM shop.orders GROUP BY 1")
        conn.execute("SELECT lo_from_bytea(0, convert_to(repeat('large object ✓ ', 2000), 'UTF8'))")


def build_plain_source(pg, name):
    """Several schemas (one with a name that needs quotes), bytea, unicode,
    NULLs and backslashes in the data, a sequence, a view, and a function whose
    $$ body holds a backslash."""
    pg.drop_db(name)
    pg.create_db(name)
    with pg.connect(name) as conn:
        conn.execute('CREATE SCHEMA shop; CREATE SCHEMA "Audit Trail"')
        conn.execute("CREATE TABLE public.people (id serial PRIMARY KEY, name text NOT NULL, photo bytea, note text)")
        conn.execute(
            "INSERT INTO people (name, photo, note) SELECT 'Zoë Ångström ✓ مرحبا ' || g, "
            "CASE WHEN g % 3 = 0 THEN NULL ELSE decode(md5(g::text) || '00ff5c', 'hex') END, "
            "CASE WHEN g % 2 = 0 THEN NULL ELSE E'C:\\\\dir\\\\' || g || E'\\ttab\\nnew line \\\\.' END "
            "FROM generate_series(1, 800) g"
        )
        conn.execute("COMMENT ON TABLE people IS 'who is who, back\\slash included'")
        conn.execute("CREATE SEQUENCE shop.order_no START 100")
        conn.execute(
            "CREATE TABLE shop.orders (id int PRIMARY KEY DEFAULT nextval('shop.order_no'), "
            "person_id int REFERENCES people(id), total numeric(10,2))"
        )
        conn.execute("INSERT INTO shop.orders (person_id, total) SELECT 1 + g % 800, g / 3.0 FROM generate_series(1, 1200) g")
        conn.execute("CREATE TABLE shop.empty (id int)")
        conn.execute('CREATE TABLE "Audit Trail"."Event Log" (at timestamptz, what text)')
        conn.execute("""INSERT INTO "Audit Trail"."Event Log" VALUES ('2024-05-01 10:00+00', 'said "hi" \\! not a command')""")
        conn.execute(
            "CREATE FUNCTION shop.slashes(t text) RETURNS text LANGUAGE plpgsql AS "
            "$$ BEGIN RETURN replace(t, E'\\\\', '/'); END $$"
        )
        conn.execute("CREATE VIEW shop.totals AS SELECT person_id, sum(total) AS total FROM shop.orders GROUP BY 1")


def build_slow_source(pg, name, rows=3000):
    """One table whose restore takes several seconds with little data: a CHECK
    constraint calls a function that, in the dump, sleeps for every row. (It
    is made fast while the source is filled, then replaced.)"""
    pg.drop_db(name)
    pg.create_db(name)
    with pg.connect(name) as conn:
        conn.execute("CREATE FUNCTION public.row_ok(v text) RETURNS boolean LANGUAGE sql AS 'SELECT true'")
        conn.execute("CREATE TABLE public.slow (id int PRIMARY KEY, v text CHECK (public.row_ok(v)))")
        conn.execute("INSERT INTO slow SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, %s) g", (rows,))
        conn.execute("CREATE TABLE public.small (id int)")
        conn.execute("INSERT INTO small SELECT generate_series(1, 10)")
        conn.execute(
            "CREATE OR REPLACE FUNCTION public.row_ok(v text) RETURNS boolean LANGUAGE plpgsql AS "
            "'BEGIN PERFORM pg_sleep(0.0015); RETURN true; END'"
        )


def gzipped(path, dest=None):
    dest = dest or path.with_name(path.name + ".gz")
    dest.write_bytes(gzip.compress(path.read_bytes()))
    return dest


@pytest.fixture(scope="session")
def custom_source(pg, tmp_path_factory):
    """The custom-format engine's source database and its dumps: gzip-compressed,
    uncompressed, and written through a pipe (the TOC then has no data offsets)."""
    name = "pgc_source"
    build_custom_source(pg, name)
    folder = tmp_path_factory.mktemp("pgc")
    dumps = {
        "gzip": dump_custom(pg, name, folder / "source.dump"),
        "none": dump_custom(pg, name, folder / "source-z0.dump", "-Z0"),
        "piped": folder / "source-piped.dump",
    }
    dumps["piped"].write_bytes(pg.tool("pg_dump", "-Fc", dbname=name).stdout)
    yield name, dumps
    pg.drop_db(name)


@pytest.fixture(scope="session")
def plain_source(pg, tmp_path_factory):
    """The plain-SQL engine's source database and its dump, raw and gzipped."""
    name = "plain_source"
    build_plain_source(pg, name)
    folder = tmp_path_factory.mktemp("plain")
    dump = dump_plain(pg, name, folder / "source.sql")
    yield name, {"raw": dump, "gzip": gzipped(dump)}
    pg.drop_db(name)


@pytest.fixture(scope="session")
def slow_dumps(pg, tmp_path_factory):
    """A dump that takes seconds to restore, in both formats."""
    name = "pg_slow_source"
    build_slow_source(pg, name)
    folder = tmp_path_factory.mktemp("pg_slow")
    dumps = {"custom": dump_custom(pg, name, folder / "slow.dump"), "plain": dump_plain(pg, name, folder / "slow.sql")}
    pg.drop_db(name)
    return dumps
