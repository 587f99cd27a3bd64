"""``dbkeeper backup | backups | rescan | verify``.

``dbkeeper backup TARGET`` makes a stored, catalogued backup (the same
operation as the API's, run here with a progress bar, or handed to the worker
with --queue); ``--output FILE`` still writes a fixture file of a Django alias
without storing or cataloguing it."""

import json
import sys

from ..listing import counted

FORMATS_HELP = "pg_custom (PostgreSQL default), pg_plain, sqlite (SQLite default), fixtures, odoo"


def register(sub):
    p = sub.add_parser("backup", help="back up a database into the backup storage (or a fixture into a file)")
    p.add_argument("target", nargs="?", help="target name, alias:NAME or database URL")
    p.add_argument("--format", default=None, help=FORMATS_HELP)
    p.add_argument("--storage", default=None, help="backup storage (default: the configured one)")
    p.add_argument("--compress", type=int, default=None, metavar="N", help="gzip level 0-9 (default 6)")
    p.add_argument("--roles", action="store_true", help="also store the server's roles (pg_dumpall --roles-only)")
    p.add_argument("--role-passwords", action="store_true", help="with --roles: keep the roles' password hashes")
    p.add_argument("--queue", action="store_true", help="hand the backup to the worker and print its id")
    p.add_argument("--json", action="store_true", help="print the catalog entry as JSON when done")
    fixture = p.add_argument_group("a fixture file instead (not stored, not catalogued)")
    fixture.add_argument("--output", metavar="FILE", help="write a Django fixture of an alias to FILE (.gz: gzipped)")
    fixture.add_argument("--source", default=None, help="with --output: alias:NAME (default: TARGET or alias:default)")
    fixture.add_argument("--exclude", action="append", default=[], metavar="APP_OR_MODEL",
                         help="with --output: leave out an app (shop) or a model (shop.order); may be repeated")
    fixture.add_argument("--natural-foreign", action="store_true", help="refer to related objects by natural key")
    fixture.add_argument("--natural-primary", action="store_true", help="leave out primary keys of models with natural keys")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("backups", help="list the catalog of stored backups")
    p.add_argument("--target", default="", help="only the backups of this target (name, database or display URL)")
    p.add_argument("--origin", default="", help="manual, schedule, or schedule:ID")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_backups)

    p = sub.add_parser("rescan", help="rebuild missing catalog rows from the manifests in the backup storage")
    p.add_argument("--storage", default=None, help="backup storage (default: the configured one)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_rescan)

    p = sub.add_parser("verify", help="verify a stored backup: checksum, a test restore into a scratch copy, row counts")
    p.add_argument("backup", help="id of a stored backup")
    p.add_argument("--target", default="", help="for a backup dbkeeper did not make: the target to test-restore next to")
    p.add_argument("--queue", action="store_true", help="hand the verification to the worker and print its id")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(func=cmd_verify)

    register_roles(sub)


def cmd_backup(args):
    from ..errors import DbkeeperError
    from ..messages import N_

    if args.output:
        return write_fixture_file(args)
    if not args.target:
        raise DbkeeperError(N_("Name the database to back up: a target name, alias:NAME or a database URL."))
    from rich.console import Console

    from ..operations.models import Operation
    from ..server import migrate as ensure_migrated
    from ..streams import human_size
    from . import service
    from .models import Backup

    from ..audit.context import acting_user

    ensure_migrated()
    user = acting_user()
    console = Console(stderr=True)
    try:
        plan = service.plan_backup(args.target, format=args.format, storage=args.storage, compress=args.compress,
                                   roles=args.roles, role_passwords=args.role_passwords, user=user)
    except DbkeeperError as exc:
        if exc.code == "target_unknown" and args.target.endswith((".json", ".json.gz")):
            raise DbkeeperError(N_("There is no target named %(name)s. To write a fixture file, use %(example)s."),
                                code=exc.code, params={"name": args.target,
                                                       "example": f"--output {args.target}"}) from None
        raise
    if args.queue:
        op = service.launch(plan, user=user).operation
        sys.stdout.write(f"{op.id}\n")
        console.print(f"Queued as {op.id}: follow it with 'dbkeeper operations'.")
        return 0
    op = service.record(plan, user=user)
    console.print(f"Backing up {plan.target.display()} as {plan.maker.format} to the {plan.storage.name} storage.")
    op = run_with_bar(console, "backup", op)
    if op.status != Operation.Status.SUCCEEDED:
        console.print(f"[red]{op.status}[/red]: {op.error_message}")
        return 1
    backup = Backup.objects.get(pk=op.result["backup_id"])
    if args.json:
        sys.stdout.write(json.dumps(backup.as_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(f"{backup.id}\n")
    rows = sum(backup.tables.values())
    console.print(f"[green]Stored[/green] {backup.id}: {human_size(backup.size)}, {counted(len(backup.tables), 'table')}, "
                  f"{counted(rows, 'row')}, sha256 {backup.sha256[:16]}…, in {op.elapsed_seconds():.1f} s.")
    return 0


def cmd_verify(args):
    from rich.console import Console

    from ..operations.models import Operation
    from ..server import migrate as ensure_migrated
    from . import verification

    from ..audit.context import acting_user

    ensure_migrated()
    user = acting_user()
    console = Console(stderr=True)
    plan = verification.plan_verify(args.backup, target=args.target, user=user)
    if args.queue:
        op = verification.launch(plan, user=user).operation
        sys.stdout.write(f"{op.id}\n")
        console.print(f"Queued as {op.id}: follow it with 'dbkeeper operations'.")
        return 0
    op = verification.record(plan, user=user)
    console.print(f"Verifying {plan.backup.id} ({plan.backup.name}) with a scratch copy next to "
                  f"{plan.target.display()}.")
    op = run_with_bar(console, "verify", op)
    passed = op.status == Operation.Status.SUCCEEDED
    if args.json:
        sys.stdout.write(json.dumps({"backup_id": plan.backup.id, "operation_id": op.id, "status": op.status,
                                     "passed": passed, "code": op.error_code,
                                     "message": op.rendered_message()}, indent=2) + "\n")
    if passed:
        console.print(f"[green]Verified[/green] {plan.backup.id}: {op.rendered_message()}")
        return 0
    console.print(f"[red]{op.status}[/red]: {op.rendered_error()}")
    return 1


def write_fixture_file(args):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..engines.fixtures_dump import write_fixture
    from ..errors import DbkeeperError
    from ..messages import Message, N_, Np_

    source = args.source or args.target or "alias:default"
    if not source.startswith("alias:"):
        raise DbkeeperError(N_("A fixture backup reads a database of this project: give its alias, e.g. %(example)s."),
                            params={"example": "--source alias:default"})
    alias = source[len("alias:"):]
    console = Console(stderr=True)
    with Progress(TextColumn("writing"), BarColumn(), MofNCompleteColumn(), TextColumn("objects"),
                  TimeRemainingColumn(), console=console, transient=not sys.stderr.isatty()) as bar:
        task = bar.add_task("backup", total=None)

        def show(done, total):
            bar.update(task, completed=done, total=total)

        count = write_fixture(alias, args.output, on_progress=show, exclude=[e.lower() for e in args.exclude],
                              natural_foreign=args.natural_foreign, natural_primary=args.natural_primary)
    wrote = Message(Np_("Wrote %(count)s object to %(path)s.", "Wrote %(count)s objects to %(path)s."),
                    {"count": count, "path": args.output})
    console.print(wrote.render())
    return 0


def cmd_backups(args):
    from ..listing import print_table, say_empty
    from ..server import migrate as ensure_migrated
    from ..streams import human_size
    from .catalog import listed

    from ..audit.context import acting_user

    ensure_migrated()
    rows = listed(target=args.target, origin=args.origin, limit=args.limit, user=acting_user())
    if args.json:
        sys.stdout.write(json.dumps([b.as_dict() for b in rows], indent=2) + "\n")
        return 0
    if not rows:
        say_empty("backups", hint=": make one with 'dbkeeper backup TARGET'")
        return 0
    from ..targets import configured_targets

    targets = configured_targets()
    # The shared listing: ids whole, one block per backup when the terminal is narrow (never "cr…", "ta…").
    print_table(["id", "created", "target", "format", "size", "tables", "rows", "origin", "storage", "sha256"],
                [[b.id, b.created_at.strftime("%Y-%m-%d %H:%M:%S"), _target_label(b, targets), b.format, human_size(b.size),
                  str(len(b.tables or {})), f"{sum((b.tables or {}).values()):,}", b.origin or b.source, b.storage,
                  b.sha256[:12]] for b in rows],
                keep={"id", "created", "sha256"})
    return 0


def _target_label(b, targets) -> str:
    """The target by its name, with the database when the backup is of another
    one on its server (a drop's safety backup); the URL when it has no name."""
    from urllib.parse import urlsplit

    spec = targets.get(b.target_spec)
    if spec is None:
        return b.target_display or b.name
    url = spec.get("url", "") if isinstance(spec, dict) else str(spec)
    own = urlsplit(url).path.lstrip("/") if "://" in url else ""
    return b.target_spec if not b.database or not own or b.database == own else f"{b.target_spec} ({b.database})"


def cmd_rescan(args):
    from ..server import migrate as ensure_migrated
    from .catalog import rescan

    from ..access import permissions
    from ..audit.context import acting_user

    ensure_migrated()
    if acting_user() is not None:  # rows for backups of any target: the backup permission on every target
        permissions.require(acting_user(), "backup")
    found = rescan(args.storage)
    if args.json:
        sys.stdout.write(json.dumps(found, indent=2) + "\n")
        return 0
    sys.stdout.write(f"{counted(found['manifests'], 'manifest')} in the {found['storage']} storage; "
                     f"{counted(len(found['added']), 'catalog row')} rebuilt.\n")
    for skipped in found["skipped"]:
        sys.stdout.write(f"skipped {skipped['name']}: {skipped['reason']}\n")
    return 0


def register_roles(sub):
    p = sub.add_parser("roles", help="the server roles stored beside a backup (dbkeeper backup --roles)")
    rsub = p.add_subparsers(dest="action", required=True)
    a = rsub.add_parser("apply", help="create the roles a server lacks; existing roles are never changed")
    a.add_argument("backup", help="id of a stored backup made with --roles")
    a.add_argument("--target", required=True, help="target name, alias:NAME or database URL on that server")
    a.add_argument("--allow-superuser", action="store_true",
                   help="also create roles with SUPERUSER, REPLICATION or BYPASSRLS")
    a.set_defaults(func=cmd_roles_apply)


def cmd_roles_apply(args):
    from .. import targets
    from ..errors import DbkeeperError
    from ..messages import N_
    from ..server import migrate as ensure_migrated
    from . import roles
    from .models import Backup

    ensure_migrated()
    backup = Backup.objects.filter(pk=args.backup).first()
    if backup is None:
        raise DbkeeperError(N_("There is no stored backup with that id."), code="backup_missing")
    from ..access import permissions
    from ..audit.context import acting_user

    user = acting_user()
    if user is not None:  # roles are the server's, shared by every database on it
        permissions.require(user, "manage_databases", args.target if "://" not in args.target else None)
    target = targets.resolve(args.target)
    if target.kind != "postgresql":
        raise DbkeeperError(N_("Only a PostgreSQL server has roles to back up."), code="no_roles")
    done = roles.apply(roles.parse(roles.read_roles(backup)), target, allow_powerful=args.allow_superuser)
    sys.stdout.write(json.dumps(done, indent=2) + "\n")
    return 0


def run_with_bar(console, label, op):
    """Run the recorded operation ``op`` here, with a progress bar on the
    terminal; returns it as it ended."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from ..operations import runner

    with Progress(
        TextColumn(label), BarColumn(), TextColumn("{task.percentage:>5.1f} %"), TimeRemainingColumn(),
        TextColumn("{task.fields[message]}"), console=console, transient=False,
    ) as bar:
        task = bar.add_task(label, total=100, message="")

        def show(o):
            bar.update(task, completed=o.percent, message=(o.message or "")[:60])

        runner.run(op.id, listener=show)
        op.refresh_from_db()
        show(op)
    return op
