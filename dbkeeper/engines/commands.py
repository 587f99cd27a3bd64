"""``dbkeeper inspect FILE``."""

import json
import sys


def register(sub):
    p = sub.add_parser("inspect", help="describe a backup file without restoring it")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_inspect)


def cmd_inspect(args):
    from rich.console import Console
    from rich.table import Table

    from . import inspect

    _, info = inspect(args.file)
    if args.json:
        sys.stdout.write(json.dumps(info.as_dict(), indent=2, default=str) + "\n")
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
    return 0
