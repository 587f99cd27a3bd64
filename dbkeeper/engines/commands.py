"""``dbkeeper inspect FILE``: what a person needs to know about a backup
before restoring it (format, sizes, server, tables, what it needs from the
server), and with ``--json`` everything the engine found (its BackupInfo).

It reads the whole file, as it must to list every table with its rows and to
say the file is whole and harmless (the restore command, by contrast, shows
only what the file's schema tells before it asks for confirmation)."""

import json
import sys

TABLES_SHOWN = 50


def register(sub):
    p = sub.add_parser("inspect", help="describe a backup file without restoring it")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print everything found, as JSON")
    p.add_argument("--target", help="also say what a restore into this target would do about the roles, "
                                    "extensions and privileged objects the backup needs (reads it, changes nothing)")
    p.set_defaults(func=cmd_inspect)


def cmd_inspect(args):
    from rich.console import Console
    from rich.table import Table

    from . import inspect

    _, info = inspect(args.file)
    plan = _plan(args.target, info) if args.target else None
    if args.json:
        data = info.as_dict()
        if plan is not None:
            data["plan"] = [{"object": str(subject), "action": str(action)} for subject, action in plan]
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return 0
    console = Console(highlight=False)
    summary = Table(show_header=False, box=None, pad_edge=False)
    summary.add_column(style="bold", no_wrap=True)
    summary.add_column(overflow="fold")
    for label, value in summary_rows(info):
        summary.add_row(label, value)
    console.print(summary)
    rows, heading = table_rows(info)
    if info.tables:
        listed = Table(box=None, pad_edge=False, title=None)
        listed.add_column(f"{len(info.tables)} table{'s' if len(info.tables) != 1 else ''}", overflow="fold")
        if heading:
            listed.add_column(heading, justify="right", no_wrap=True)
        for name, amount in rows[:TABLES_SHOWN]:
            listed.add_row(name, *([amount] if heading else []))
        console.print()
        console.print(listed)
        if len(rows) > TABLES_SHOWN:
            console.print(f"… and {len(rows) - TABLES_SHOWN} more (--json lists them all)")
    needs = needs_rows(info)
    if needs:
        console.print()
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for label, value in needs:
            table.add_row(label, value)
        console.print(table)
    if plan:
        console.print()
        shown = Table("needs", "what dbkeeper will do", box=None, pad_edge=False)
        for subject, action in plan:
            shown.add_row(subject.render(), action.render())
        console.print(shown)
    return 0


# -- what a person reads ----------------------------------------------------------------

def _size(n) -> str:
    from ..streams import human_size

    return human_size(int(n or 0))


def _sql_details(info) -> dict:
    """The SQL part of the details: an Odoo zip's dump.sql, else the backup's own."""
    sql = info.details.get("sql")
    return (sql.get("details") or {}) if isinstance(sql, dict) else info.details


def summary_rows(info) -> list:
    """(label, value) lines: format, sizes, compression, server and dump tool."""
    from ..messages import Message

    d = info.details
    rows = [("format", Message(info.label).render())]
    compression = d.get("compression")
    if info.compressed:
        kind = compression if compression and compression != "none" else "zip" if info.format == "odoo_zip" else "gzip"
        how = f"compressed ({kind})"
    else:
        how = "not compressed"
    rows.append(("file", f"{_size(info.size)}, {how}"))
    data = _data_size(info)
    if data is not None:
        rows.append(data)
    if info.server_version:
        server = info.server_version
        rows.append(("server", server if server.split(" ", 1)[0] in ("SQLite", "PostgreSQL") else f"PostgreSQL {server}"))
    sql = _sql_details(info)
    dumped_by = d.get("dumped_by") or (f"pg_dump {sql['pg_dump_version']}" if sql.get("pg_dump_version") else None)
    if dumped_by:
        rows.append(("dumped by", dumped_by + (f", {d['dumped_at']}" if d.get("dumped_at") else "")))
    elif info.format == "pg_plain" and not d.get("pg_dump"):
        rows.append(("written by", "not pg_dump (no pg_dump header)"))
    if d.get("database"):
        rows.append(("database", str(d["database"])))
    if info.format == "odoo_zip":
        rows.append(("Odoo", f"{d.get('odoo_version')}, {d.get('modules', 0)} modules: {d.get('module_names') or '-'}"))
        rows.append(("filestore", f"{d.get('filestore_files', 0)} files, {_size(d.get('filestore_bytes'))}"))
    if info.format == "django_fixtures":
        rows.append(("objects", f"{d.get('objects', 0):,}"))
    if info.format == "sqlite" and d.get("journal_mode"):
        rows.append(("journal", str(d["journal_mode"])))
    return rows


def _data_size(info):
    d = info.details
    if "data_size" in d:  # custom format: the tables' data, inflated
        stored = d.get("stored_data_size")
        extra = f" ({_size(stored)} stored)" if info.compressed and stored else ""
        return "table data", f"{_size(d['data_size'])}{extra}"
    if info.format == "odoo_zip":
        return "dump.sql", _size(d.get("dump_bytes"))
    if "uncompressed_size" in d and (info.compressed or d["uncompressed_size"] != info.size):
        return "uncompressed", _size(d["uncompressed_size"])
    return None


def table_rows(info):
    """([(table, amount)], heading of the amounts or "") from what the engine knows."""
    d = _sql_details(info)
    if info.format == "pg_custom" and isinstance(d.get("table_data_sizes"), dict):
        sizes = d["table_data_sizes"]
        return [(t, _size(sizes[t]) if t in sizes else "no data") for t in info.tables], "data"
    counts = d.get("table_rows")
    if isinstance(counts, dict):
        return [(t, f"{counts[t]:,}" if t in counts else "-") for t in info.tables], "rows"
    models = info.details.get("models")
    if info.format == "django_fixtures" and isinstance(models, dict):
        return [(m, f"{n:,}") for m, n in sorted(models.items())], "objects"
    return [(t, "") for t in info.tables], ""


def needs_rows(info) -> list:
    """What the backup needs from the server: roles, extensions, languages, event triggers."""
    d = _sql_details(info)
    rows = []
    roles = d.get("roles")
    if isinstance(roles, str):
        roles = [r.strip() for r in roles.split(",") if r.strip()]
    if roles:
        rows.append(("roles it names", ", ".join(roles)))
    needs = d.get("needs") or {}
    extensions = needs.get("extensions") or {}
    if extensions:
        rows.append(("extensions", ", ".join(f"{name} (schema {schema})" if schema else name
                                              for name, schema in sorted(extensions.items()))))
    if needs.get("languages"):
        rows.append(("languages", ", ".join(needs["languages"])))
    if needs.get("event_triggers"):
        rows.append(("event triggers", ", ".join(needs["event_triggers"])))
    return rows


def _plan(spec, info):
    """What a restore into ``spec`` would do about what the backup needs (PostgreSQL targets)."""
    from ..targets import resolve

    target = resolve(spec)
    if target.kind != "postgresql" or "postgresql" not in _target_kinds(info):
        return []
    from ..targets.pgneeds import restore_plan

    return restore_plan(target, _sql_details(info))  # an Odoo zip's: its dump.sql's


def _target_kinds(info):
    from . import all_engines

    return next((e.target_kinds for e in all_engines() if e.format == info.format), ())
