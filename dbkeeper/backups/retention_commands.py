"""``dbkeeper retention set|show|clear`` and ``dbkeeper prune``."""

import sys

from ..audit.context import acting_user
from ..listing import counted

RULE_OPTIONS = [
    ("--keep-last", "keep_last", "the N newest backups"),
    ("--keep-within", "keep_within", "every backup newer than DURATION (30d, 12h, 1y2m5d) before the newest one"),
    ("--keep-daily", "keep_daily", "the newest backup of each of the last N days that have one"),
    ("--keep-weekly", "keep_weekly", "the newest backup of each of the last N ISO weeks that have one"),
    ("--keep-monthly", "keep_monthly", "the newest backup of each of the last N months that have one"),
    ("--keep-yearly", "keep_yearly", "the newest backup of each of the last N years that have one"),
]


def register(sub):
    p = sub.add_parser("retention", help="how long the backups of a target are kept")
    rsub = p.add_subparsers(dest="action", required=True)
    s = rsub.add_parser("set", help="set a target's retention policy (replacing the one it had)")
    s.add_argument("target", help="a configured target name")
    for option, dest, help_text in RULE_OPTIONS:
        s.add_argument(option, dest=dest, metavar="DURATION" if dest == "keep_within" else "N",
                       help=help_text + ("" if dest == "keep_within" else "; -1: every one"))
    s.add_argument("--timezone", default="", help="the time zone days, weeks, months and years are read in "
                                                  "(default: the server's TIME_ZONE)")
    s.set_defaults(func=cmd_set)
    show = rsub.add_parser("show", help="the retention policies (of every target, or of one)")
    show.add_argument("target", nargs="?", default="")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=cmd_show)
    c = rsub.add_parser("clear", help="remove a target's retention policy: its backups are kept")
    c.add_argument("target")
    c.set_defaults(func=cmd_clear)

    p = sub.add_parser("prune", help="delete the backups that retention policies no longer keep, saying why "
                                     "each one is kept or deleted")
    p.add_argument("--target", default="", help="only this target (default: every target with a policy)")
    p.add_argument("--dry-run", action="store_true", help="only show what would be kept and deleted")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_prune)


def cmd_set(args):
    from ..server import migrate as ensure_migrated
    from . import pruning, retention

    ensure_migrated()
    policy = {dest: getattr(args, dest) for _, dest, _ in RULE_OPTIONS if getattr(args, dest) not in (None, "")}
    row = pruning.set_policy(args.target, policy, args.timezone, user=acting_user())
    described = retention.describe(row.policy) or "no rule: every backup is kept"
    sys.stdout.write(f"{row.target}: {described} (time zone {row.timezone or 'of the server'})\n")
    return 0


def cmd_show(args):
    from ..listing import open_records, print_json, print_table, say_empty
    from . import pruning, retention

    if not open_records(args.json):
        return 0
    rows = pruning.policies(args.target.strip() or None)
    if args.json:
        print_json([r.as_dict() for r in rows])
        return 0
    if not rows:
        say_empty("retention policies", " ('dbkeeper retention set TARGET --keep-daily 7 ...' adds one)")
        return 0
    print_table(["target", "policy", "time zone", "updated"], [
        [r.target, retention.describe(r.policy) or "keep everything", r.timezone or "server",
         r.updated_at.strftime("%Y-%m-%d %H:%M:%S")] for r in rows], keep={"target"})
    return 0


def cmd_clear(args):
    from ..server import migrate as ensure_migrated
    from . import pruning

    ensure_migrated()
    pruning.clear_policy(args.target, user=acting_user())
    sys.stdout.write(f"{args.target}: retention policy removed; its backups are kept.\n")
    return 0


def cmd_prune(args):
    from ..listing import print_json, print_table
    from ..server import migrate as ensure_migrated
    from . import pruning, retention

    ensure_migrated()
    result = pruning.prune(args.target.strip() or None, dry_run=args.dry_run, user=acting_user())
    if args.json:
        print_json(result.as_dict())
        return 1 if result.failed else 0
    failed = {f["id"]: f["error"] for f in result.failed}
    for group in result.groups:
        sys.stdout.write(f"{group.target}: {retention.describe(group.policy) or 'no policy: every backup is kept'}"
                         f" (time zone {group.timezone or 'of the server'})\n")
        zone = retention.get_zone(group.timezone or None)  # times as the periods are read
        rows = []
        for d in group.decisions:
            if d.keep:
                action = "keep"
            elif args.dry_run:
                action = "delete"
            else:
                action = "FAILED" if d.id in failed else ("deleted" if d.id in result.deleted else "left")
            why = ", ".join(d.reason_texts())
            rows.append([d.id, d.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %z"), action,
                         f"{why}: {failed[d.id]}" if d.id in failed else why])
        if rows:
            print_table(["id", "created", "action", "why"], rows, keep={"id"})
    for backup_id in result.finished:
        sys.stdout.write(f"finished deleting {backup_id} (begun by an earlier prune)\n")
    if not result.groups:
        sys.stdout.write("No retention policy: nothing to prune ('dbkeeper retention set TARGET ...').\n")
    deleted = len(result.deleted)
    sys.stdout.write(("Dry run: nothing was deleted.\n" if args.dry_run else
                      f"{counted(deleted, 'backup')} deleted, {len(result.failed)} could not be.\n"))
    return 1 if result.failed else 0
