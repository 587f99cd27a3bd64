"""Real backup files for tests, made with the real tools."""

import sqlite3

from .pgserver import pg_bin


def make_pg_source(pg, name, rows=1000, value="v"):
    """A small but varied database: two schemas, a sequence, an index, a view."""
    pg.drop_db(name)
    pg.create_db(name)
    with pg.connect(name) as conn:
        conn.execute("CREATE SCHEMA sales")
        conn.execute("CREATE TABLE public.items (id serial PRIMARY KEY, label text NOT NULL, payload bytea)")
        conn.execute("CREATE INDEX items_label ON public.items (label)")
        conn.execute(
            "INSERT INTO public.items (label, payload) SELECT %s || '-' || g || ' ünï', decode(md5(g::text), 'hex') "
            "FROM generate_series(1, %s) g",
            (value, rows),
        )
        conn.execute("CREATE TABLE sales.orders (id bigint PRIMARY KEY, item_id int REFERENCES public.items(id), note text)")
        conn.execute("INSERT INTO sales.orders SELECT g, g, NULL FROM generate_series(1, %s) g", (max(1, rows // 10),))
        conn.execute("CREATE VIEW sales.order_labels AS SELECT o.id, i.label FROM sales.orders o JOIN public.items i ON i.id = o.item_id")


def make_big_pg_source(pg, name, rows):
    """One wide-enough table to make a restore last a while."""
    pg.drop_db(name)
    pg.create_db(name)
    with pg.connect(name) as conn:
        conn.execute("CREATE TABLE big (id bigint PRIMARY KEY, a text, b text)")
        conn.execute("INSERT INTO big SELECT g, md5(g::text), repeat(md5((g*7)::text), 3) FROM generate_series(1, %s) g", (rows,))


def dump_custom(pg, dbname, path, *extra):
    pg.tool("pg_dump", "-Fc", "-f", str(path), *extra, dbname=dbname)
    return path


def dump_plain(pg, dbname, path, *extra):
    pg.tool("pg_dump", "-Fp", "-f", str(path), *extra, dbname=dbname)
    return path


def make_sqlite(path, rows=100, value="v"):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, n REAL)")
    conn.executemany("INSERT INTO notes (body, n) VALUES (?, ?)", [(f"{value}-{i} ✓", i / 3) for i in range(rows)])
    conn.execute("CREATE TABLE tags (name TEXT UNIQUE)")
    conn.executemany("INSERT INTO tags VALUES (?)", [(f"t{i}",) for i in range(10)])
    conn.commit()
    conn.close()
    return path


__all__ = ["make_pg_source", "make_big_pg_source", "dump_custom", "dump_plain", "make_sqlite", "pg_bin"]
