"""Starting and cancelling operations: the one place the web, the API and the
CLI go through, so the rules (one restore per target, a clear error for a bad
file) hold everywhere."""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import engines, targets
from ..errors import DbkeeperError, TargetBusy
from ..messages import Message, N_
from .models import Operation
from .signals import operation_finished

log = logging.getLogger(__name__)
Status = Operation.Status


def create_restore(source_path, target_spec, user=None, source_name="", backup=None, backup_id="") -> Operation:
    """Record a restore of a file (``source_path``) or of a stored ``backup``
    (or its ``backup_id``) and take the target's lock; does not queue it yet
    (so that a token can be created first)."""
    if backup is None and backup_id:
        from ..backups.models import Backup

        backup = Backup.objects.filter(pk=backup_id).first()
        if backup is None:
            raise DbkeeperError(N_("There is no stored backup with that id."), code="backup_missing")
    if backup is not None:
        backup_format, source_path, source_name = backup.format, "", source_name or backup.name
    else:
        # A file no engine knows is refused now, not later in the worker.
        backup_format = engines.detect(source_path).format
    target = targets.resolve(target_spec)
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


def start_restore(source_path, target_spec, user=None, **kwargs) -> Operation:
    op = create_restore(source_path, target_spec, user=user, **kwargs)
    enqueue(op)
    return op


def cancel(op: Operation, by="") -> Operation:
    """Ask a running operation to stop; a queued one stops at once. ``by`` is
    who asked: a user name, or a Message such as "the command line"."""
    if op.finished:
        raise DbkeeperError(N_("This operation has already finished."), code="already_finished")
    now = timezone.now()
    before = Message(N_("The restore was cancelled before it started."))
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
