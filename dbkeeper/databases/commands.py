"""``dbkeeper db list | create | duplicate | rename | drop | undo-restore | drop-copy``."""

import sys

from ..audit.context import acting_user


TARGET_HELP = "a configured target: the action goes to its server, with the permissions held on it"


def register(sub):
    p = sub.add_parser("db", help="the databases of the targets' servers: list, create, duplicate, rename, drop")
    dsub = p.add_subparsers(dest="action", required=True)

    ls = dsub.add_parser("list", help="each server's databases with size, owner, sessions, last backup, copies")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=cmd_list)

    c = dsub.add_parser("create", help="create an empty database, or one from a backup (a restore into a new name)")
    c.add_argument("target", help="a target on the server (its role creates the database)")
    c.add_argument("name")
    c.add_argument("--owner", default="", help="the role that owns it (default: the target's role)")
    c.add_argument("--encoding", default="", help="for example UTF8 (default: the server's)")
    c.add_argument("--locale", default="", help="LC_COLLATE and LC_CTYPE, for example C.UTF-8 (default: the server's)")
    source = c.add_mutually_exclusive_group()
    source.add_argument("--from-backup", metavar="ID", default="",
                        help="restore this stored backup into the new database (as a restore does it: scratch copy, "
                             "checks, least privilege; its owner is the one a restore gives)")
    source.add_argument("--from-file", metavar="PATH", default="", help="the same from a backup file")
    c.add_argument("--queue", action="store_true", help="with --from-backup or --from-file: hand it to the worker "
                                                        "and print the operation's id")
    c.set_defaults(func=cmd_create)

    d = dsub.add_parser("duplicate", help="copy a database under a new name")
    d.add_argument("target", help=TARGET_HELP)
    d.add_argument("source", help="the database to copy")
    d.add_argument("name", help="the name of the copy (must not exist)")
    d.add_argument("--stream", action="store_true",
                   help="copy with pg_dump | pg_restore, leaving the other sessions alone (default: by template, "
                        "which ends them)")
    d.add_argument("--strategy", default="", choices=["", "wal_log", "file_copy"], metavar="{wal_log,file_copy}",
                   help="CREATE DATABASE's STRATEGY (default: the server's)")
    d.add_argument("--yes", action="store_true", help="end the other sessions without asking")
    d.add_argument("--queue", action="store_true", help="hand it to the worker and print the operation's id")
    d.set_defaults(func=cmd_duplicate)

    r = dsub.add_parser("rename", help="rename a database (its sessions are ended)")
    r.add_argument("target", help=TARGET_HELP)
    r.add_argument("database")
    r.add_argument("new_name")
    r.add_argument("--yes", action="store_true", help="end the other sessions without asking")
    r.set_defaults(func=cmd_rename)

    x = dsub.add_parser("drop", help="drop a database, after a safety backup")
    x.add_argument("target", help=TARGET_HELP)
    x.add_argument("database")
    x.add_argument("--no-backup", action="store_true", help="do not make a safety backup first")
    x.add_argument("--storage", default=None, help="where the safety backup goes (default storage otherwise)")
    x.add_argument("--yes", action="store_true", help="do not ask to type the name")
    x.add_argument("--queue", action="store_true", help="hand it to the worker and print the operation's id")
    x.set_defaults(func=cmd_drop)

    u = dsub.add_parser("undo-restore", help="put a pre-restore copy back in place of its database")
    u.add_argument("copy", help="the copy's name (see 'dbkeeper db list' or 'dbkeeper prerestore list')")
    u.add_argument("--yes", action="store_true", help="do not ask to type the name")
    u.add_argument("--queue", action="store_true", help="hand it to the worker and print the operation's id")
    u.set_defaults(func=cmd_undo)

    k = dsub.add_parser("drop-copy", help="drop a pre-restore copy")
    k.add_argument("copy", help="the copy's name")
    k.add_argument("--yes", action="store_true", help="do not ask to type the name")
    k.set_defaults(func=cmd_drop_copy)


def _ready():
    from ..server import migrate

    migrate()


def ask_typed(name, yes, what="database") -> str:
    """The name typed to confirm (``name`` itself with --yes)."""
    from ..errors import DbkeeperError
    from ..messages import N_

    if yes:
        return name
    if not sys.stdin.isatty():
        raise DbkeeperError(N_("Not confirmed: run with --yes to go on without a question."), code="not_confirmed")
    return input(f"Type the {what} name ({name}) to confirm: ")


def _agree_to_end(exc, yes) -> bool:
    from ..errors import DbkeeperError
    from ..messages import N_

    sys.stderr.write(exc.message + "\n")
    if yes:
        return True
    if not sys.stdin.isatty():
        raise DbkeeperError(N_("Not confirmed: run with --yes to end the other sessions."), code="not_confirmed")
    return input("End them? [y/N] ").strip().lower() in ("y", "yes")


def _run_or_queue(op, queue, inspected=None):
    from ..operations import runner
    from ..operations.models import Operation
    from ..operations.service import enqueue

    if queue:
        enqueue(op)
        sys.stdout.write(f"{op.id}\n")
        sys.stderr.write(f"Queued as {op.id}: follow it with 'dbkeeper operations'.\n")
        return 0
    runner.run(op.id, listener=_show, inspected=inspected)
    op.refresh_from_db()
    if op.status == Operation.Status.SUCCEEDED:
        sys.stdout.write(op.rendered_message() + "\n")
        return 0
    sys.stderr.write(f"{op.status}: {op.rendered_error()}\n")
    return 1


_last_stage = {}


def _show(op):
    if _last_stage.get(op.id) != op.stage:
        _last_stage[op.id] = op.stage
        sys.stderr.write(f"{op.stage}: {op.rendered_message()}\n")


def _age(seconds):
    if seconds is None:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def cmd_list(args):
    from ..listing import open_records, print_json, print_table, say_empty
    from ..streams import human_size
    from . import service

    if not open_records(args.json):
        return 0
    data = service.listing(user=acting_user())
    if args.json:
        print_json(data)
        return 0
    if not (data["servers"] or data["sqlite"] or data["errors"]):
        say_empty("targets")
        return 0
    rows = []
    for server in data["servers"]:
        if server["error"]:
            rows.append([server["server"], "", "", "", "", "", "", server["error"]])
        for db in server["databases"]:
            backup = db["last_backup"]
            copies = ", ".join(f"{c['name']} ({_age(c['age_seconds'])}, {human_size(c['size'] or 0)})"
                               for c in db["copies"])
            note = db["read_only_reason"] or (f"target {db['target']}" if db["target"] else "")
            rows.append([server["server"], db["name"], human_size(db["size"] or 0), db["owner"], db["encoding"],
                         str(db["connections"]),
                         f"{backup['id']} ({_age(backup['age_seconds'])} ago)" if backup else "",
                         "; ".join(x for x in (note, copies and f"copies: {copies}") if x)])
    for f in data["sqlite"]:
        backup = f["last_backup"]
        rows.append([f"sqlite ({f['target']})", f["path"], human_size(f["size"] or 0) if f["exists"] else "missing",
                     "", "", "", f"{backup['id']} ({_age(backup['age_seconds'])} ago)" if backup else "",
                     ", ".join(c["name"] for c in f["copies"])])
    for e in data["errors"]:
        rows.append([e["target"], "", "", "", "", "", "", e["error"]])
    print_table(["server", "database", "size", "owner", "encoding", "sessions", "last backup", "notes"], rows,
                keep={"database", "last backup"})
    return 0


def cmd_create(args):
    from . import service

    _ready()
    if args.from_backup or args.from_file:
        return _create_from_backup(args)
    facts = service.create_database(args.target, args.name, owner=args.owner, encoding=args.encoding,
                                    locale=args.locale, user=acting_user())
    sys.stdout.write(f"created {facts['name']} (owner {facts['owner']}, {facts['encoding']}, {facts['collate']})\n")
    return 0


def _create_from_backup(args):
    from ..errors import DbkeeperError
    from ..messages import N_
    from ..operations import service as restores
    from . import service

    if args.owner or args.encoding or args.locale:
        raise DbkeeperError(N_("A database created from a backup takes its owner, encoding and locale as a restore "
                               "gives them: leave out --owner, --encoding and --locale."), code="bad_request")
    plan = service.plan_create_from_backup(args.target, args.name, backup_id=args.from_backup,
                                           source_path=args.from_file, user=acting_user())
    return _run_or_queue(restores.record(plan), args.queue, inspected=plan.inspected)


def _ending_sessions_once_agreed(action, yes):
    """``action(end_sessions)``: first leaving the other sessions alone; when
    there are some, again ending them once the user agrees (None if not)."""
    from . import service

    try:
        return action(False)
    except service.SessionsOpen as exc:
        if not _agree_to_end(exc, yes):
            return None
        return action(True)


def cmd_duplicate(args):
    from . import service

    _ready()
    mode = "stream" if args.stream else "template"
    plan = _ending_sessions_once_agreed(
        lambda end: service.plan_duplicate(args.target, args.source, args.name, mode=mode, end_sessions=end,
                                           strategy=args.strategy, user=acting_user()), args.yes)
    if plan is None:
        return 1
    op = service.record_duplicate(*plan, user=acting_user())
    return _run_or_queue(op, args.queue)


def cmd_rename(args):
    from . import service

    _ready()
    done = _ending_sessions_once_agreed(
        lambda end: service.rename_database(args.target, args.database, args.new_name, end_sessions=end,
                                            user=acting_user()), args.yes)
    if done is None:
        return 1
    sys.stdout.write(f"renamed {done['previous_name']} to {done['name']}\n")
    return 0


def cmd_drop(args):
    from . import service

    _ready()
    # Every other rule first: nobody types a name for an action that would be refused anyway.
    service.plan_drop(args.target, args.database, args.database, not args.no_backup, args.storage, user=acting_user())
    typed = ask_typed(args.database, args.yes)
    plan = service.plan_drop(args.target, args.database, typed, not args.no_backup, args.storage, user=acting_user())
    op = service.record_drop(*plan, user=acting_user())
    return _run_or_queue(op, args.queue)


def cmd_undo(args):
    from .. import targets
    from . import service

    _ready()
    copy = service.find_copy(args.copy, user=acting_user())
    target = targets.resolve(copy.target_spec)
    sys.stderr.write(f"{copy.name} goes back in place of {target.name}; that is kept as a new pre-restore copy.\n")
    target, copy = service.plan_undo(copy.pk, ask_typed(service.undo_confirmation(target, copy), args.yes), user=acting_user())
    op = service.record_undo(target, copy, user=acting_user())
    return _run_or_queue(op, args.queue)


def cmd_drop_copy(args):
    from . import service

    _ready()
    copy = service.find_copy(args.copy, user=acting_user())
    service.drop_copy(copy.pk, ask_typed(copy.name, args.yes, what="copy"), user=acting_user())
    sys.stdout.write(f"dropped {copy.name}\n")
    return 0
