"""``dbkeeper target add | list | remove``: the restore targets of the
standalone server (the ones added here appear on the restore page)."""

import sys


def register(sub):
    p = sub.add_parser("target", help="restore targets: add, list, remove")
    tsub = p.add_subparsers(dest="action", required=True)
    a = tsub.add_parser("add", help="add a restore target")
    a.add_argument("name", help="the name people pick on the restore page (and type to confirm)")
    a.add_argument("url", help="postgresql://user@host:port/name or sqlite:////absolute/path.db")
    a.add_argument("--password-stdin", action="store_true",
                   help="read the database password from standard input (keeps it off the command line)")
    a.add_argument("--trust-superuser", action="store_true",
                   help="DANGEROUS: run the backups' SQL with this target's own rights, superuser ones included "
                        "(by default a privileged target's backups run as a throwaway unprivileged role)")
    a.add_argument("--owner", default="", help="role that owns restored objects when the live database's owner "
                                                "is a superuser (default: a NOLOGIN role NAME_owner)")
    a.add_argument("--extension", action="append", default=[], dest="extensions", metavar="NAME",
                   help="an extension dbkeeper may create for a backup although it needs a superuser (repeatable)")
    a.add_argument("--no-check", action="store_true",
                   help="add it without connecting first (e.g. a server that is down for now)")
    a.set_defaults(func=cmd_add)
    ls = tsub.add_parser("list", help="list restore targets (passwords hidden)")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=cmd_list)
    r = tsub.add_parser("remove", help="remove a target added here")
    r.add_argument("name")
    r.set_defaults(func=cmd_remove)


def _migrated():
    from ..server import migrate

    migrate()


def cmd_add(args):
    from ..dburl import DbUrl
    from ..errors import TargetError
    from ..messages import Message, N_
    from ..targets.probe import describe
    from ..targets.service import add_target

    _migrated()
    url = args.url
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        try:
            parsed = DbUrl.parse(url)
        except ValueError as exc:
            # DbUrl's reason is a phrase (a Message), shown in the same language.
            reason = exc.args[0] if exc.args and isinstance(exc.args[0], Message) else str(exc)
            raise TargetError(N_("The target URL is not valid: %(error)s."), params={"error": reason}) from None
        if parsed.kind != "postgresql":
            raise TargetError(N_("--password-stdin is for PostgreSQL targets; a SQLite file has no password."))
        url = DbUrl(parsed.kind, parsed.name, parsed.user, password, parsed.host, parsed.port, parsed.options).to_url()
    from ..audit.context import acting_user

    target = add_target(args.name, url, trust="superuser" if args.trust_superuser else "", owner=args.owner,
                        extensions=args.extensions, check=not args.no_check, user=acting_user())
    found = f" ({describe(target['found'])})" if target["found"] is not None else " (not checked)"
    sys.stdout.write(f"added target {target['name']}: {target['display']}{found}\n")
    if args.trust_superuser:
        sys.stderr.write("warning: this target trusts its backups fully: their SQL runs with its own rights\n")
    return 0


def cmd_list(args):
    from ..listing import open_records, print_json, print_table, say_empty
    from .api import target_list

    if not open_records(args.json):
        return 0
    from ..audit.context import acting_user

    rows = target_list(acting_user())
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        say_empty("targets", hint=": add one with 'dbkeeper target add NAME URL'")
        return 0
    print_table(["name", "kind", "database", "url", "trusts its backups"],
                [[row["name"], row["kind"], row["database"] or "", row["display"] or row.get("error", ""),
                  "FULLY (superuser rights)" if row.get("trust") == "superuser" else "no"] for row in rows],
                keep={"name"})
    return 0


def cmd_remove(args):
    from ..audit.context import acting_user
    from ..targets.service import remove_target

    _migrated()
    remove_target(args.name, user=acting_user())
    sys.stdout.write(f"removed target {args.name}\n")
    return 0
