"""``dbkeeper restore | operations | cancel | prerestore``."""

import sys

from ..listing import counted


def register(sub):
    p = sub.add_parser("restore", help="restore a backup file into a database, atomically")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("file", nargs="?", help="the backup file")
    which.add_argument("--backup", metavar="ID", help="a stored backup (as the restore page lists them) instead of a file")
    p.add_argument("--target", required=True, help="target name, alias:NAME or database URL")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--apply-roles", action="store_true",
                   help="with --backup: first create the roles stored with the backup that the server lacks "
                        "(only through a target that trusts its backups; existing roles are never changed)")
    p.add_argument("--jobs", type=int, default=None, help="parallel pg_restore jobs (when run here)")
    p.add_argument("--queue", action="store_true",
                   help="hand the restore to the worker ('dbkeeper worker') and print its id, instead of running it here")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("operations", help="list operations and their status")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_operations)

    p = sub.add_parser("cancel", help="cancel a queued or running operation")
    p.add_argument("operation_id")
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("prerestore", help="pre-restore copies kept by earlier restores")
    psub = p.add_subparsers(dest="action", required=True)
    ls = psub.add_parser("list", help="list the copies (their names are what 'drop' takes)")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=cmd_prerestore_list)
    d = psub.add_parser("drop", help="drop a copy, its name typed to confirm (as 'dbkeeper db drop-copy')")
    d.add_argument("name", help="name of the copy (see 'dbkeeper prerestore list')")
    d.add_argument("--yes", action="store_true", help="do not ask to type the name")
    d.set_defaults(func=cmd_prerestore_drop)
    pr = psub.add_parser("prune", help="drop the copies past their retention (the last PRERESTORE_KEEP_LAST of "
                                       "each target and those younger than PRERESTORE_KEEP_DAYS days are kept)")
    pr.add_argument("--dry-run", action="store_true", help="only show what would be kept and dropped")
    pr.add_argument("--json", action="store_true", help="print JSON")
    pr.set_defaults(func=cmd_prerestore_prune)


def cmd_restore(args):
    from django.conf import settings
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from ..errors import DbkeeperError
    from ..messages import N_
    from . import runner, service
    from .models import Operation
    from ..server import migrate as ensure_migrated

    from ..audit.context import acting_user

    ensure_migrated()
    user = acting_user()
    if args.jobs:
        settings.DBKEEPER = {**getattr(settings, "DBKEEPER", {}), "PG_RESTORE_JOBS": args.jobs}
    console = Console(stderr=True)
    # The same rules, in the same order, as the restore page and the API.
    plan = service.plan_restore(args.target, backup_id=args.backup or "", source_path=args.file or "", user=user,
                                apply_roles=args.apply_roles)
    if plan.info is not None:
        size, tables = plan.info.size, len(plan.info.tables)
    else:
        # A made backup counts its tables in Backup.tables, an uploaded one in its inspected info.
        size, tables = plan.backup.size, len(plan.backup.tables or (plan.backup.info or {}).get("tables") or [])
    target = plan.target
    console.print(f"[bold]{plan.label}[/bold], {counted(size, 'byte')}, {counted(tables, 'table')}")
    console.print(f"target: {target.display()}" + (" (exists: it will be replaced; a pre-restore copy is kept)" if target.exists() else " (new)"))
    if args.yes:
        typed = plan.confirmation
    else:
        if not sys.stdin.isatty():
            raise DbkeeperError(N_("Not confirmed: run with --yes to restore without a question."))
        what = "target name" if plan.confirmation != target.name else "database name"
        typed = input(f"Type the {what} ({plan.confirmation}) to confirm: ")
    service.check_confirmation(plan, typed)

    if args.queue:
        op = service.launch(plan, user=user).operation
        sys.stdout.write(f"{op.id}\n")
        console.print(f"Queued as {op.id}: follow it with 'dbkeeper operations'.")
        return 0
    op = service.record(plan, user=user)
    with Progress(
        TextColumn("{task.fields[stage]:<10}"), BarColumn(), TextColumn("{task.percentage:>5.1f} %"),
        TimeRemainingColumn(), TextColumn("{task.fields[message]}"), console=console, transient=False,
    ) as bar:
        task = bar.add_task("restore", total=100, stage="queued", message="")

        def show(o):
            bar.update(task, completed=o.percent, stage=o.stage, message=o.rendered_message()[:60])

        runner.run(op.id, listener=show, inspected=plan.inspected)
        op.refresh_from_db()
        show(op)
    if op.status == Operation.Status.SUCCEEDED:
        pre = op.result.get("prerestore")
        console.print(f"[green]Restored[/green] into {op.target_display} in {op.elapsed_seconds():.1f} s." + (f" Previous database kept as {pre}." if pre else ""))
        return 0
    console.print(f"[red]{op.status}[/red]: {op.rendered_error()}")
    return 1


def cmd_operations(args):
    from ..audit.context import acting_user
    from ..listing import open_records, print_json, print_table, say_empty
    from .service import visible_operations

    if not open_records(args.json):
        return 0
    operations = list(visible_operations(acting_user())[: args.limit])
    if args.json:
        print_json([{"id": o.id, "kind": o.kind, "status": o.status, "stage": o.stage, "percent": o.percent,
                     "target": o.target_display, "user": o.username, "message": o.rendered_error() or o.rendered_message(),
                     "started_at": o.started_at.isoformat() if o.started_at else None} for o in operations])
        return 0
    if not operations:
        say_empty("operations")
        return 0
    # The id is what `dbkeeper cancel` takes: never cut it.
    print_table(["id", "kind", "status", "stage", "%", "target", "user", "started", "message"], [
        [op.id, op.kind, op.status, op.stage, f"{op.percent:.0f}", op.target_display, op.username,
         op.started_at.strftime("%Y-%m-%d %H:%M:%S") if op.started_at else "", op.rendered_error() or op.rendered_message()]
        for op in operations], keep={"id"})
    return 0


def cmd_cancel(args):
    from ..messages import Message, N_
    from . import service

    from ..audit.context import acting_user

    user = acting_user()
    op = service.cancel_operation(args.operation_id, user=user,
                                  by=user.get_username() if user is not None else Message(N_("the command line")))
    sys.stdout.write(f"{op.id}: {op.status}\n")
    return 0


def cmd_prerestore_list(args):
    from ..access import permissions
    from ..audit.context import acting_user
    from ..listing import open_records, print_json, print_table, say_empty
    from .models import PreRestoreCopy

    if not open_records(args.json):
        return 0
    copies = list(PreRestoreCopy.objects.filter(dropped_at__isnull=True))
    user = acting_user()
    if user is not None:  # only the copies of targets the user may see
        copies = [c for c in copies if permissions.may_on(user, "view", c.target_spec, c.target_display)]
    if args.json:
        print_json([{"name": c.name, "target": c.target_display, "created_at": c.created_at.isoformat(),
                     "operation": c.operation_id} for c in copies])
        return 0
    if not copies:
        say_empty("pre-restore copies")
        return 0
    # The name is what `dbkeeper prerestore drop` takes, the operation id what a person looks up.
    print_table(["name", "target", "created", "operation"], [
        [c.name, c.target_display, c.created_at.strftime("%Y-%m-%d %H:%M:%S"), c.operation_id or ""] for c in copies],
        keep={"name", "operation"})
    return 0


def cmd_prerestore_drop(args):
    # The same rules as the databases page: the copy's name typed, an audit row.
    from ..databases.commands import ask_typed
    from ..databases.service import drop_copy, find_copy

    from ..audit.context import acting_user

    copy = find_copy(args.name, user=acting_user())
    drop_copy(copy.pk, ask_typed(copy.name, args.yes, what="copy"), user=acting_user())
    sys.stdout.write(f"dropped {copy.name}\n")
    return 0


def cmd_prerestore_prune(args):
    from ..listing import print_json, print_table
    from ..server import migrate as ensure_migrated
    from .prerestore import prune_copies

    ensure_migrated()
    result = prune_copies(dry_run=args.dry_run)
    if args.json:
        print_json(result)
        return 1 if result["failed"] else 0
    failed = {f["name"]: f["error"] for f in result["failed"]}
    rows = []
    for c in result["copies"]:
        action = "keep" if c["keep"] else ("drop" if args.dry_run else ("FAILED" if c["name"] in failed else "dropped"))
        why = ", ".join(c["reasons"]) or failed.get(c["name"], "")
        rows.append([c["name"], c["target"], c["created_at"][:19].replace("T", " "), action, why])
    if rows:
        print_table(["name", "target", "created", "action", "why"], rows, keep={"name"})
    else:
        sys.stdout.write("No pre-restore copies.\n")
    sys.stdout.write("Dry run: nothing was dropped.\n" if args.dry_run else
                     f"{len(result['dropped'])} copy(ies) dropped, {len(result['failed'])} could not be.\n")
    return 1 if result["failed"] else 0
