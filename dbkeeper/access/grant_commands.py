"""``dbkeeper grant | revoke | grants``: dbkeeper's permissions, for a user or
a @group, on every target or (``--target``) on one."""

import sys

from .permissions import PERMISSIONS


def register(sub):
    for name, func, help_text in (
        ("grant", cmd_grant, "give a user or @group a permission, on every target or on one"),
        ("revoke", cmd_revoke, "take a permission back from a user or @group"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("holder", metavar="USER|@GROUP", help="a user name, or @ and a group name")
        p.add_argument("permission", metavar="PERM", choices=PERMISSIONS, help=", ".join(PERMISSIONS))
        p.add_argument("--target", default="", help="only on this target (default: every target)")
        p.set_defaults(func=func)
    p = sub.add_parser("grants", help="list the permissions held, globally and per target")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_grants)


def _done(verb, result):
    scope = f"on {result['target']}" if result["target"] else "on every target"
    sys.stdout.write(f"{verb} {result['permission']} {scope} {'to' if verb == 'granted' else 'from'} "
                     f"{result['holder']}\n")


def cmd_grant(args):
    from ..audit.context import acting_user
    from ..server import migrate
    from .grants import grant

    migrate()
    _done("granted", grant(args.holder, args.permission, args.target, by=acting_user()))
    return 0


def cmd_revoke(args):
    from ..audit.context import acting_user
    from ..server import migrate
    from .grants import revoke

    migrate()
    _done("revoked", revoke(args.holder, args.permission, args.target, by=acting_user()))
    return 0


def cmd_grants(args):
    from ..listing import open_records, print_json, print_table, say_empty
    from .grants import all_grants

    if not open_records(args.json):
        return 0
    rows = all_grants()
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        say_empty("permissions granted", hint=" (superusers have every permission; plain staff those of "
                                              "DBKEEPER['STAFF_PERMISSIONS'])")
        return 0
    print_table(["holder", "permission", "target"], [[r["holder"], r["permission"], r["target"] or "*"] for r in rows],
                keep={"holder", "permission", "target"})
    return 0
