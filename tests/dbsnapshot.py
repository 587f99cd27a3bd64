"""What a database holds, as row counts and a checksum of every table, so a
test can say "the data equals the source" or "nothing changed"."""

import hashlib
import sqlite3

import psycopg


def pg_snapshot(conninfo: dict) -> dict:
    result = {}
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') "
            "ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            row = conn.execute(
                f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {name} t"
            ).fetchone()
            result[f"{schema}.{table}"] = (row[0], row[1])
    return result


def sqlite_snapshot(path) -> dict:
    result = {}
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        for table in tables:
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            digest = hashlib.md5("|".join(sorted(repr(r) for r in rows)).encode()).hexdigest()
            result[table] = (len(rows), digest)
    finally:
        conn.close()
    return result
