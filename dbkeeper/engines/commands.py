"""``dbkeeper inspect FILE``."""

import json
import sys


def register(sub):
    p = sub.add_parser("inspect", help="describe a backup file without restoring it")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print JSON")
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
    table = Table(show_header=False, box=None)
    table.add_row("format", info.label)
    table.add_row("size", f"{info.size:,} bytes")
    table.add_row("compressed", "yes" if info.compressed else "no")
    if info.server_version:
        table.add_row("server version", info.server_version)
    table.add_row("tables", str(len(info.tables)))
    for key, value in info.details.items():
        table.add_row(key, str(value))
    console = Console()
    console.print(table)
    if info.tables:
        console.print(", ".join(info.tables[:50]) + (" …" if len(info.tables) > 50 else ""))
    if plan:
        needs = Table("needs", "what dbkeeper will do", box=None)
        for subject, action in plan:
            needs.add_row(subject.render(), action.render())
        console.print(needs)
    return 0


def _plan(spec, info):
    """What a restore into ``spec`` would do about what the backup needs (PostgreSQL targets)."""
    from ..targets import resolve

    target = resolve(spec)
    if target.kind != "postgresql" or "postgresql" not in _target_kinds(info):
        return []
    from ..targets.pgneeds import restore_plan

    details = info.details.get("sql") or info.details  # an Odoo zip's dump.sql
    return restore_plan(target, details)


def _target_kinds(info):
    from . import all_engines

    return next((e.target_kinds for e in all_engines() if e.format == info.format), ())
