"""Starting and cancelling operations: the one place the web, the API and the
CLI go through, so the rules hold everywhere and are checked in the same
order: a backup and a known target are given, the backup exists and fits the
target's kind, the user typed the confirmation, one restore per target, and a
task queue that is down fails the operation with a sentence instead of leaving
it queued for ever."""

import logging
from dataclasses import dataclass
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import engines, targets
from ..access import permissions
from ..audit import service as audit
from ..errors import BackupRejected, DbkeeperError, TargetBusy, TargetError
from ..messages import Message, N_
from .models import Operation
from .signals import operation_finished

log = logging.getLogger(__name__)
Status = Operation.Status


@dataclass
class RestorePlan:
    """A restore whose inputs passed every rule but the confirmation; nothing
    is recorded yet. The CLI shows it before it asks for the confirmation."""

    target: object  # a resolved target (targets.resolve)
    confirmation: str  # what the user types to confirm that the target is replaced
    label: str  # the backup's format, for people
    backup: object = None  # a stored backup, or None for a file
    source_path: str = ""
    engine: object = None
    info: object = None  # the BackupInfo of an inspected file
    database: str = ""  # a new database on the target's server (databases.service.plan_create_from_backup)
    apply_roles: bool = False  # create the backup's roles the server lacks first

    @property
    def inspected(self):
        """(engine, info) for runner.run, so that a file is not read twice."""
        return (self.engine, self.info) if self.info is not None else None


@dataclass
class StartedRestore:
    operation: Operation
    token: str = ""  # the raw progress token, shown once; "" when none was asked for


def _is_name(spec: str) -> bool:
    return "://" not in spec and not spec.startswith("alias:")


def plan_restore(target, backup_id="", source_path="", named_only=False, user=None, apply_roles=False) -> RestorePlan:
    """Check a restore of a stored backup (``backup_id``) or of a file
    (``source_path``) into ``target``: a configured target name, or (unless
    ``named_only``, as for the web) ``alias:NAME`` or a database URL.
    ``user`` needs ``restore`` on the target and may only restore a backup
    of a target they may see (None: dbkeeper itself). ``apply_roles``: also
    create the roles stored with the backup that the server lacks (only a
    backup made with its roles, through a target that trusts its backups)."""
    target = str(target or "").strip()
    backup_id = str(backup_id or "").strip()
    if not backup_id and not source_path:
        raise DbkeeperError(N_("Choose a backup to restore."), code="backup_required")
    if not target:
        raise DbkeeperError(N_("Choose the database to restore into."), code="target_required")
    if user is not None and (named_only or _is_name(target)):
        permissions.require(user, "restore", target)  # before its existence: names are not probed
    if (named_only or _is_name(target)) and target not in targets.configured_targets():
        raise TargetError(N_("There is no target named %(name)s."), code="target_unknown", params={"name": target})
    resolved = targets.resolve(target)
    if user is not None and not (named_only or _is_name(target)):
        permissions.require(user, "restore", resolved.display())
    backup, info = None, None
    if backup_id:
        backup = _stored_backup(backup_id)
        if user is not None:
            permissions.require_on(user, "view", backup.target_spec, backup.target_display)
        engine = engines.by_format(backup.format)
        label = backup.format_label or backup.format
    else:
        if not Path(source_path).is_file():
            raise BackupRejected(N_("The backup file %(name)s does not exist."), code="backup_missing",
                                 params={"name": Path(source_path).name})
        # Enough to confirm from; what only the whole file tells is checked while it is restored.
        engine, info = engines.preview(source_path)
        label = info.label
    if engine is not None and resolved.kind not in engine.target_kinds:
        raise DbkeeperError(N_("A %(label)s cannot be restored into a %(kind)s database."), code="wrong_target_kind",
                            params={"label": Message(label), "kind": resolved.kind})
    if apply_roles:
        from ..backups.roles import check_apply

        check_apply(backup, resolved)
    # A target chosen by name is confirmed by that name; one given as a URL or alias by its database's name.
    confirmation = target if _is_name(target) else resolved.name
    return RestorePlan(resolved, confirmation, label, backup, str(source_path or ""), engine, info,
                       apply_roles=bool(apply_roles))


def _stored_backup(backup_id):
    from ..backups.models import Backup

    backup = Backup.objects.filter(pk=backup_id).first()
    if backup is None:
        raise DbkeeperError(N_("There is no stored backup with that id."), code="backup_missing")
    return backup


def restore_needs(target, backup_id, user=None) -> list:
    """What restoring stored backup ``backup_id`` into configured target
    ``target`` would do about the roles, extensions and privileged objects the
    backup needs: (subject, action) Messages. Reads the server, changes nothing."""
    plan = plan_restore(target, backup_id=backup_id, named_only=True, user=user)
    if plan.target.kind != "postgresql":
        return []
    from ..targets.pgneeds import restore_plan

    details = (plan.backup.info or {}).get("details") or {}
    return restore_plan(plan.target, details.get("sql") or details)  # an Odoo zip's dump.sql


def check_confirmation(plan: RestorePlan, typed) -> None:
    if str(typed or "").strip() != plan.confirmation:
        raise DbkeeperError(N_("To confirm that %(name)s will be replaced, type its name exactly."),
                            code="not_confirmed", params={"name": plan.confirmation})


def record(plan: RestorePlan, user=None) -> Operation:
    """The operation for a checked and confirmed plan, holding the target's lock; not queued.
    (Its audit start row is written here, so that a restore the CLI runs itself has one too.)"""
    op = create_restore(plan.source_path, plan.target.spec, user=user, backup=plan.backup, database=plan.database,
                        apply_roles=plan.apply_roles)
    audit.operation_started(op, user=user, database=plan.target.name)
    return op


def start_restore(source_path="", target="", *, confirm, backup_id="", user=None, language="", token=False,
                  named_only=False, apply_roles=False) -> StartedRestore:
    """Check, record and queue a restore: the API's one call. (The CLI takes
    the same three steps, plan, confirmation and launch or record, with its
    question between them.) ``token``: also issue the progress token (before
    the work is queued, so it exists before the first progress); ``language``:
    the user's, for the message that will say how it ended."""
    plan = plan_restore(target, backup_id=backup_id, source_path=source_path, named_only=named_only, user=user,
                        apply_roles=apply_roles)
    check_confirmation(plan, confirm)
    return launch(plan, user=user, language=language, token=token)


def launch(plan: RestorePlan, user=None, language="", token=False) -> StartedRestore:
    """Record a confirmed plan and queue it; a queue that cannot be reached
    ends the operation as failed (freeing the target) and raises queue_down."""
    from .runner import finish

    op = record(plan, user=user)
    raw = issue_and_queue(op, token=token, language=language, finish=finish, queue_down=N_(
        "The restore could not be queued: the task queue is not reachable. Nothing was changed."))
    return StartedRestore(op, raw)


def issue_and_queue(op: Operation, *, token, language, finish, queue_down) -> str:
    """Issue the operation's progress token (before the work is queued, so it
    exists before the first progress is written), remember the user's
    language for the message that will say how it ended, and queue it.
    Returns the raw token ("" when none was asked for). A queue that cannot
    be reached ends the operation as failed with ``finish`` (freeing its
    target) and raises the ``queue_down`` sentence with code queue_down."""
    from ..access import operation_tokens

    raw = operation_tokens.issue(op) if token else ""
    if language:
        from ..notifications import delivery

        delivery.expect(op, language)
    try:
        enqueue(op)
    except Exception:
        log.exception("could not queue operation %s", op.id)
        error = DbkeeperError(queue_down, code="queue_down")
        finish(op, Status.FAILED, error=error)
        raise error from None
    return raw


def create_restore(source_path, target_spec, user=None, source_name="", backup=None, backup_id="",
                   database="", apply_roles=False) -> Operation:
    """Record a restore of a file (``source_path``) or of a stored ``backup``
    (or its ``backup_id``) and take the target's lock; does not queue it yet
    (so that a token can be created first). ``database``: a new database on
    the target's server to create from the backup (locked by its own name)."""
    if backup is None and backup_id:
        backup = _stored_backup(backup_id)
    if backup is not None:
        backup_format, source_path, source_name = backup.format, "", source_name or backup.name
    else:
        # A file no engine knows is refused now, not later in the worker.
        backup_format = engines.detect(source_path).format
    target = targets.on_server(target_spec, database)
    waiting = Message(N_("Waiting for a worker."))
    op = Operation(
        kind=Operation.Kind.RESTORE,
        user_id=str(getattr(user, "pk", "") or ""),
        username=getattr(user, "get_username", lambda: "")() if user is not None else "",
        source_path=str(source_path),
        source_name=source_name or str(source_path).rsplit("/", 1)[-1],
        backup_id=backup.pk if backup is not None else "",
        backup_format=backup_format,
        target_spec=target.spec,
        target_display=target.display(),
        database=database or "",
        apply_roles=bool(apply_roles and backup is not None),
        lock_key=target.lock_key(),
        message=waiting.english(),
        message_data=waiting.to_json(),
    )
    try:
        with transaction.atomic(using=Operation.objects.db):
            op.save(force_insert=True)
    except IntegrityError:
        busy = Operation.objects.filter(lock_key=target.lock_key()).first()
        if busy:
            raise TargetBusy(N_(
                "Another restore of %(target)s is already running (operation %(id)s, %(status)s). "
                "Wait for it to finish or cancel it, then try again."
            ), params={"target": target.display(), "id": busy.id, "status": busy.status}) from None
        raise TargetBusy(N_(
            "Another restore of %(target)s is already running. Wait for it to finish or cancel it, then try again."
        ), params={"target": target.display()}) from None
    op.add_event(N_("Restore of %(source)s into %(target)s queued."),
                 params={"source": op.source_name, "target": op.target_display})
    return op


def enqueue(op: Operation) -> None:
    from .tasks import run_operation

    run_operation(op.id)


def visible_operation(operation_id, user) -> Operation:
    """The operation, if ``user`` may see it (None: the command line, which may see all)."""
    from ..access.auth import can_see

    op = Operation.objects.filter(pk=operation_id).first()
    if op is None:
        raise DbkeeperError(N_("There is no operation with this id."), code="not_found")
    if user is not None and not can_see(user, op):
        if str(user.pk) == op.user_id:  # their own, on a target they may no longer see
            permissions.require_on(user, "view", op.target_spec, op.target_display)
        permissions.require_anywhere(user, "view")
        raise DbkeeperError(N_("This restore was started by someone else."), code="not_your_operation")
    return op


KIND_PERMISSION = {Operation.Kind.RESTORE: "restore", Operation.Kind.BACKUP: "backup", Operation.Kind.VERIFY: "backup"}


def kind_permission(op: Operation) -> str:
    """The permission that starts (and cancels) an operation of this kind."""
    return KIND_PERMISSION.get(op.kind, "restore")


def may_cancel(user, op: Operation) -> bool:
    from ..access.auth import can_see

    return (not op.finished and can_see(user, op)
            and permissions.may_on(user, kind_permission(op), op.target_spec, op.target_display))


def visible_operations(user):
    """The operations ``user`` may see, newest first: their own on targets
    they may see; everyone's for a superuser (and for None, dbkeeper itself)."""
    rows = Operation.objects.all()
    if user is None or user.is_superuser:
        return rows
    permissions.require_anywhere(user, "view")
    rows = rows.filter(user_id=str(user.pk))
    names = permissions.target_filter(user, "view")
    if names is not None:
        from django.db.models import Q

        # An operation on a named target, or (for one without any) if the user may see some target.
        rows = rows.filter(Q(target_spec__in=names) | Q(target_spec=""))
    return rows


def cancel_operation(operation_id, user=None, by="") -> Operation:
    """Cancel an operation ``user`` may see, with the permission its kind needs."""
    op = visible_operation(operation_id, user)
    if user is not None:
        permissions.require_on(user, kind_permission(op), op.target_spec, op.target_display)
    op = cancel(op, by=by)
    audit.record(f"{op.kind}.cancel", user=user, target=audit.target_label(op.target_spec, op.target_display),
                 database=op.target_display, backup=op.backup_id or op.source_name, operation=op.id, outcome=op.status)
    return op


def progress_token(operation_id, user) -> tuple[Operation, str]:
    """A new progress token, for the person who started the operation only
    (a superuser who sees it watches it with their session)."""
    from ..access import operation_tokens

    try:
        op = visible_operation(operation_id, user)
    except DbkeeperError as exc:
        if exc.code != "not_your_operation":
            raise
        op = None
    if op is None or op.user_id != str(user.pk):
        raise DbkeeperError(N_("Only the person who started this restore can get a progress token for it."),
                            code="not_your_operation")
    return op, operation_tokens.issue(op)


def cancel(op: Operation, by="") -> Operation:
    """Ask a running operation to stop; a queued one stops at once. ``by`` is
    who asked: a user name, or a Message such as "the command line"."""
    if op.finished:
        raise DbkeeperError(N_("This operation has already finished."), code="already_finished")
    now = timezone.now()
    before = Message({Operation.Kind.BACKUP: N_("The backup was cancelled before it started."),
                      Operation.Kind.VERIFY: N_("The verification was cancelled before it started."),
                      Operation.Kind.DUPLICATE: N_("The action was cancelled before it started; nothing was changed."),
                      Operation.Kind.DROP: N_("The action was cancelled before it started; nothing was changed."),
                      Operation.Kind.UNDO: N_("The action was cancelled before it started; nothing was changed.")}.get(
        op.kind, N_("The restore was cancelled before it started.")))
    if Operation.objects.filter(pk=op.pk, status=Status.QUEUED).update(
        status=Status.CANCELLED, cancel_requested=True, lock_key=None, finished_at=now, updated_at=now,
        error_code="cancelled", error_message=before.english(), error_data=before.to_json(),
        message=before.english(), message_data=before.to_json(),
    ):
        op.refresh_from_db()
        op.add_event(N_("Cancelled before it started; nothing was changed."), level="warning", code="cancelled")
        operation_finished.send(sender=Operation, operation=op)
        return op
    cancelling = Message(N_("Cancelling…"))
    Operation.objects.filter(pk=op.pk, status=Status.RUNNING).update(
        status=Status.CANCELLING, cancel_requested=True, updated_at=now,
        message=cancelling.english(), message_data=cancelling.to_json(),
    )
    op.refresh_from_db()
    if by:
        op.add_event(N_("Cancel requested by %(by)s."), params={"by": by}, level="warning")
    else:
        op.add_event(N_("Cancel requested."), level="warning")
    return op
