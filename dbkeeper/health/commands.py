"""``dbkeeper status [--json] [--target NAME]``: backup health for
monitoring systems. Exit code 0: all ok, 1: something stale, 2: something failing."""

import sys

from ..streams import human_size


def register(sub):
    p = sub.add_parser("status", help="backup health of every target (exit code 0 ok, 1 stale, 2 failing)")
    p.add_argument("--target", default="", help="only this configured target")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=status)


def _age(seconds):
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def _when(iso):
    """An API time as a person reads it on a terminal: ``2026-11-30 10:27 UTC``."""
    from datetime import datetime, timezone

    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def status(args):
    from ..audit.context import acting_user
    from ..errors import DbkeeperError
    from ..listing import open_records, print_json, print_table
    from . import service

    if not open_records(as_json=args.json):
        return 0
    try:
        # As the --as user (default the first superuser); a server without users yet: every target.
        user = acting_user()
        data = service.overview(user, target=args.target.strip(), everything=user is None)
    except DbkeeperError as exc:
        sys.stderr.write(exc.render() + "\n")
        return 3
    if args.json:
        print_json(data)
        return data["exit_code"]
    if not data["targets"]:
        sys.stdout.write("No targets configured yet ('dbkeeper target add').\n")
        return 0
    rows = []
    for t in data["targets"]:
        last = t["last_backup"]
        verified = t["last_verified"]
        rows.append([t["target"], t["health"],
                     f"{_when(last['created_at'])} ({_age(last['age_seconds'])} ago)" if last else "never",
                     _when(verified["verified_at"]) if verified else "never",
                     _when(t["next_run"]), human_size(t["total_size"]), str(t["backups"])])
    print_table(["target", "health", "last backup", "last verified", "next run", "size", "backups"], rows,
                keep={"target", "health"})
    for t in data["targets"]:
        for problem in t["problems"]:
            sys.stdout.write(f"{t['target']}: {problem}\n")
    return data["exit_code"]
