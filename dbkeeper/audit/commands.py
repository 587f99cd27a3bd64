"""``dbkeeper audit``: read and export the audit log; ``dbkeeper audit
verify``: check its HMAC chain and the anchors in the server log."""

import sys
from pathlib import Path

from ..listing import counted


def register(sub):
    p = sub.add_parser("audit", help="read, export or verify the audit log")
    p.add_argument("--since", default="", help="from this date, date-time or age (2026-11-30, 2026-11-30T08:00, 12h, 7d)")
    p.add_argument("--until", default="", help="before this date or date-time")
    p.add_argument("--action", default="", help="only actions starting with this (e.g. signin, restore)")
    p.add_argument("--user", default="", help="only rows of this user name")
    p.add_argument("--outcome", default="", help="only rows with this outcome (ok, failed, locked…)")
    p.add_argument("--json", action="store_true", help="JSON Lines (one row per line), as --format jsonl")
    p.add_argument("--format", choices=["table", "jsonl", "csv"], default="table")
    p.set_defaults(func=cmd_export)
    asub = p.add_subparsers(dest="audit_action", metavar="ACTION")
    v = asub.add_parser("verify", help="check that no row was edited, inserted or deleted")
    v.add_argument("--anchor", action="append", default=[], metavar="N:HMAC",
                   help="a row number and HMAC known from elsewhere (repeatable); the server log's anchors are read too")
    v.add_argument("--log-dir", default="", help="folder of the server logs with anchors (default: the data folder's logs)")
    v.set_defaults(func=cmd_verify)


def cmd_export(args):
    from ..server import migrate
    from . import query
    from .service import record

    migrate()
    _superuser_only()
    rows = query.filtered(since=query.parse_since(args.since), until=query.parse_since(args.until, "until"),
                          action=args.action, username=args.user, outcome=args.outcome)
    fmt = "jsonl" if args.json else args.format
    if fmt == "jsonl":
        lines = query.jsonl(rows)
    elif fmt == "csv":
        lines = query.csv_lines(rows)
    else:
        lines = _table(rows)
    count = 0
    for line in lines:
        sys.stdout.write(line)
        count += 1
    if fmt != "table":
        record("audit.export", outcome="ok", details={"format": fmt, "since": args.since, "until": args.until,
                                                       "action": args.action, "user": args.user})
    return 0


def _table(rows):
    from ..messages import render_stored

    for e in rows.iterator():
        what = " ".join(x for x in (e.target, e.database, e.backup, e.operation) if x)
        sentence = render_stored(e.sentence) if e.sentence else ""
        yield (f"{e.number}\t{e.at:%Y-%m-%d %H:%M:%S}\t{e.action}\t{e.username or '-'}\t{e.method or '-'}\t"
               f"{e.address or '-'}\t{what or '-'}\t{e.outcome or '-'}\t{sentence}\n")


def cmd_verify(args):
    from .. import conf
    from ..server import migrate
    from . import chain
    from .models import AuditEntry

    migrate()
    _superuser_only()
    anchors = [chain.parse_anchor(text, "the command line") for text in args.anchor]
    log_dir = Path(args.log_dir) if args.log_dir else conf.data_dir() / "logs"
    logged = chain.anchors_in_logs(log_dir)
    # The highest anchor of the logs is what finds a cut; a lower one found broken is reported by the walk.
    if logged:
        anchors.append(max(logged, key=lambda a: a.number))
    report = chain.verify(AuditEntry.objects.order_by("number").iterator(), anchors)
    if report.ok:
        sys.stdout.write(f"audit log intact: {report.rows} rows, the last is {report.last_number}; "
                         f"{counted(len(anchors), 'anchor')} checked\n")
        return 0
    for problem in report.problems:
        sys.stderr.write(f"dbkeeper: audit log broken: {problem.english()}\n")
    return 1


def _superuser_only():
    """The audit log is for superusers, on the command line (run ``--as`` someone) as on the web."""
    from ..errors import DbkeeperError
    from ..messages import N_
    from .context import acting_user

    user = acting_user()
    if user is not None and not user.is_superuser:
        raise DbkeeperError(N_("Only superusers may read the audit log."), code="forbidden")
