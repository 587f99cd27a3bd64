"""``dbkeeper restore | operations | cancel | prerestore``."""

import sys


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
    d = psub.add_parser("drop")
    d.add_argument("name", help="name of the copy (see 'dbkeeper prerestore list')")
    d.set_defaults(func=cmd_prerestore_drop)


def cmd_restore(args):
    from django.conf import settings
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from ..errors import DbkeeperError
    from ..messages import N_
    from . import runner, service
    from .models import Operation
    from ..server import migrate as ensure_migrated

    ensure_migrated()
    if args.jobs:
        settings.DBKEEPER = {**getattr(settings, "DBKEEPER", {}), "PG_RESTORE_JOBS": args.jobs}
    console = Console(stderr=True)
    # The same rules, in the same order, as the restore page and the API.
    plan = service.plan_restore(args.target, backup_id=args.backup or "", source_path=args.file or "",
                                apply_roles=args.apply_roles)
    if plan.info is not None:
        size, tables = plan.info.size, len(plan.info.tables)
    else:
        size, tables = plan.backup.size, len((plan.backup.info or {}).get("tables") or [])
    target = plan.target
    console.print(f"[bold]{plan.label}[/bold], {size:,} bytes, {tables} table(s)")
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
        op = service.launch(plan).operation
        sys.stdout.write(f"{op.id}\n")
        console.print(f"Queued as {op.id}: follow it with 'dbkeeper operations'.")
        return 0
    op = service.record(plan)
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
    from ..listing import open_records, print_json, print_table, say_empty
    from .models import Operation

    if not open_records(args.json):
        return 0
    operations = list(Operation.objects.all()[: args.limit])
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

    op = service.cancel_operation(args.operation_id, by=Message(N_("the command line")))
    sys.stdout.write(f"{op.id}: {op.status}\n")
    return 0


def cmd_prerestore_list(args):
    from ..listing import open_records, print_json, print_table, say_empty
    from .models import PreRestoreCopy

    if not open_records(args.json):
        return 0
    copies = list(PreRestoreCopy.objects.filter(dropped_at__isnull=True))
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
    from django.utils import timezone

    from .. import targets
    from ..errors import DbkeeperError
    from ..messages import N_
    from .models import PreRestoreCopy

    copy = PreRestoreCopy.objects.filter(name=args.name, dropped_at__isnull=True).first()
    if copy is None:
        raise DbkeeperError(N_("There is no pre-restore copy named %(name)s."), params={"name": args.name})
    targets.resolve(copy.target_spec).drop_named(copy.name)
    copy.dropped_at = timezone.now()
    copy.save(update_fields=["dropped_at"])
    sys.stdout.write(f"dropped {copy.name}\n")
    return 0
