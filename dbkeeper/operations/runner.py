"""Runs one restore from start to end: validate, restore into a scratch copy,
check it, swap it in. The live database is not touched before the swap, and
any failure before or during the swap leaves it as it was."""

import contextlib
import logging
import os
import socket
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from .. import engines, targets
from ..errors import Cancelled, DbkeeperError, RestoreFailed
from ..messages import Message, N_, Np_
from ..streams import StreamSource, human_size
from .models import Operation, PreRestoreCopy
from .progress import Heartbeat, Progress
from .signals import operation_finished

log = logging.getLogger(__name__)

Status = Operation.Status
Stage = Operation.Stage


def worker_name():
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(operation_id) -> Operation | None:
    """Move a queued operation to running; None if someone else has it or it
    was cancelled before it started."""
    now = timezone.now()
    claimed = Operation.objects.filter(pk=operation_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now, updated_at=now, worker=worker_name()
    )
    if not claimed:
        log.info("operation %s is not queued any more; nothing to do", operation_id)
        return None
    return Operation.objects.get(pk=operation_id)


def run(operation_id, listener=None, inspected=None) -> Operation | None:
    """Run a queued operation to its end. ``inspected`` is an (engine, info)
    pair the caller already has for the same file (the CLI shows it before
    asking for confirmation), so a large file is not read twice."""
    op = claim(operation_id)
    if op is None:
        return None
    if op.kind == Operation.Kind.BACKUP:
        from .backup_runner import run_claimed

        return run_claimed(op, listener)
    if op.kind == Operation.Kind.VERIFY:
        from .verify_runner import run_claimed as run_verification

        return run_verification(op, listener)
    if op.kind in (Operation.Kind.DUPLICATE, Operation.Kind.DROP, Operation.Kind.UNDO):
        from ..databases.runner import run_claimed as run_database_action

        return run_database_action(op, listener)
    progress = Progress(op, listener)
    wording = CREATE_WORDING if op.database else RESTORE_WORDING
    with Heartbeat(op.id):
        try:
            with source_file(op) as source:
                if not isinstance(source, StreamSource):
                    op.source_path = str(source)
                result = restore(op, progress, inspected, source=source)
        except Cancelled as exc:
            finish(op, Status.CANCELLED, error=exc, progress=progress, wording=wording)
        except DbkeeperError as exc:
            finish(op, Status.FAILED, error=exc, progress=progress, wording=wording)
        except Exception as exc:  # a bug: say so plainly, keep the trace in the log
            log.exception("operation %s failed unexpectedly", op.id)
            error = RestoreFailed(N_("The restore stopped on an unexpected error: %(error)s."),
                                  code="internal_error", params={"error": str(exc)})
            finish(op, Status.FAILED, error=error, progress=progress, wording=wording)
        else:
            finish(op, Status.SUCCEEDED, result=result, progress=progress, wording=wording)
    return op


@contextlib.contextmanager
def source_file(op: Operation):
    """What the restore reads: the stored backup (streamed from remote
    storage when its tool reads a stream, else a local file, downloaded if
    need be) or the path given when the operation was created."""
    if op.backup_id:
        from ..backups.models import Backup
        from ..backups.store import restore_source

        backup = Backup.objects.filter(pk=op.backup_id).first()
        if backup is None:
            raise RestoreFailed(N_("The stored backup this restore was started from has been deleted."), code="backup_missing")
        with restore_source(backup) as source:
            yield source
    else:
        yield op.source_path


def restore(op: Operation, progress: Progress, inspected=None, source=None) -> dict:
    """``source``: what source_file gave (a path, or a StreamSource read
    front to back); the operation's source_path when None."""
    source = op.source_path if source is None else source
    progress.stage(Stage.VALIDATING, N_("Checking the backup file."))
    if inspected is None:
        engine = engines.detect(source)
        # From a stream: what can be read without a second pass; the rest is checked on the way.
        inspected = engine, (engine.preview(source) if isinstance(source, StreamSource) else engine.inspect(source))
    engine, info = inspected
    progress.event(Np_("The backup is a %(label)s of %(size)s with %(count)s table.",
                       "The backup is a %(label)s of %(size)s with %(count)s tables."),
                   params={"label": Message(info.label), "size": human_size(info.size), "count": len(info.tables)})
    # op.database: a new database on the target's server (created from the backup), never an existing one.
    target = targets.on_server(op.target_spec, op.database)
    if target.kind not in engine.target_kinds:
        raise RestoreFailed(N_("A %(label)s cannot be restored into a %(kind)s database."), code="wrong_target_kind",
                            params={"label": Message(info.label), "kind": target.kind})
    if op.database and target.exists():
        raise RestoreFailed(N_("A database named %(name)s already exists on this server: a restore into a new "
                               "database never replaces one."), code="exists", params={"name": op.database})
    progress.check_cancel()

    # Files that go with the database (an Odoo filestore), swapped in together with it.
    companion = engine.companion(source, info, target, op.id)
    scratch = target.scratch(op.id)
    Operation.objects.filter(pk=op.pk).update(scratch_name=scratch.name, backup_format=info.format)
    op.scratch_name = scratch.name
    scratch.drop()
    scratch.create()
    try:
        if op.apply_roles:
            _apply_roles(op, target, progress)
        progress.stage(Stage.RESTORING, N_("Restoring into a scratch copy; the live database is not touched."))
        engine.restore(source, info, scratch, progress)
        if companion is not None:
            companion.prepare(progress)
        progress.check_cancel()
        progress.stage(Stage.CHECKING, N_("Checking the restored copy."))
        engine.check(info, scratch)
        # PostgreSQL: objects to their owners, the live database's identity, the throwaway role dropped.
        if hasattr(target, "finish_restore"):
            target.finish_restore(scratch, progress)
        # The last moment a cancel is honoured: after this the swap must run to its end.
        progress.check_cancel()
        if op.database:
            progress.stage(Stage.SWAPPING, N_("Putting the restored copy in place as %(name)s."),
                           params={"name": op.database})
        else:
            progress.stage(Stage.SWAPPING, N_("Putting the restored copy in place of the live database."))
        companion_result = companion.swap() if companion is not None else {}
        try:
            if op.database:  # nothing is replaced, so nothing is kept aside
                target.put_in_place(scratch)
                prerestore = None
            else:
                prerestore = target.swap_in(scratch, target.prerestore_name(op.id))
        except BaseException:
            if companion is not None:
                companion.rollback()
            raise
    except BaseException:
        _drop_quietly(scratch)
        if companion is not None:
            companion.discard()
        raise
    Operation.objects.filter(pk=op.pk).update(scratch_name="", prerestore_name=prerestore or "")
    op.scratch_name, op.prerestore_name = "", prerestore or ""
    if prerestore:
        PreRestoreCopy.objects.create(
            target_spec=op.target_spec, target_display=op.target_display, name=prerestore, operation=op
        )
        progress.event(N_("The previous database was kept as %(name)s."), params={"name": prerestore})
    return {
        "format": info.format,
        "format_label": str(info.label),
        "tables": len(info.tables),
        "size": info.size,
        "target": target.display(),
        "prerestore": prerestore,
        **_created(op),
        **(companion_result or {}),
        **_sign_in_again(target, progress),
    }


def _created(op) -> dict:
    if not op.database:
        return {}
    message = Message(N_("The database %(name)s was created from %(source)s."),
                      {"name": op.database, "source": op.source_name})
    return {"database": op.database, "message": message.to_json()}


def _apply_roles(op: Operation, target, progress) -> None:
    """The roles stored with the backup, asked for with the restore: created
    on the server before the content that may name them (existing roles are
    never changed)."""
    from ..audit import service as audit
    from ..backups.models import Backup
    from ..backups.roles import apply_for_restore

    backup = Backup.objects.filter(pk=op.backup_id).first()
    done = apply_for_restore(backup, target, progress)
    audit.record("roles.apply", username=op.username, user_id=op.user_id,
                 target=audit.target_label(op.target_spec, op.target_display), backup=op.backup_id,
                 operation=op.id, outcome="ok",
                 details={"created": done["created"], "refused": done["refused"], "memberships": done["memberships"]})


def _sign_in_again(target, progress) -> dict:
    from .signins import SIGN_IN_AGAIN, replaces_sign_ins

    if not replaces_sign_ins(target):
        return {}
    progress.event(N_("This was the application's own database: its accounts and sessions are now the backup's."))
    # Stored as Message data; the status API renders it in the reader's language.
    return {"sign_in_again": True, "message": SIGN_IN_AGAIN.to_json()}


@dataclass(frozen=True)
class Wording:
    """What the ending of one kind of operation says."""

    finished: str  # the status message of a success without a message of its own
    succeeded_in: str  # the event of a success, with %(seconds)s
    nothing_changed: str  # the event after a failure or cancel


RESTORE_WORDING = Wording(
    finished=N_("The restore finished."),
    succeeded_in=N_("The restore succeeded in %(seconds)s s."),
    nothing_changed=N_("The live database was not changed."),
)
# A restore into a new database (created from a backup).
CREATE_WORDING = Wording(
    finished=N_("The database was created from the backup."),
    succeeded_in=N_("The database was created in %(seconds)s s."),
    nothing_changed=N_("No database was created; no database was changed."),
)


def finish(op: Operation, status, result=None, error=None, progress=None, wording=RESTORE_WORDING):
    """Record the end. Only an operation still active is finished here: one
    that the watchdog or a stopping worker already failed stays as it was."""
    now = timezone.now()
    if progress is not None:
        progress.flush(force=True)
    values = {"status": status, "finished_at": now, "updated_at": now, "lock_key": None,
              "eta_seconds": 0 if status == Status.SUCCEEDED else None}
    if status == Status.SUCCEEDED:
        ending = (result or {}).get("message")
        sentence = Message.from_json(ending) if isinstance(ending, dict) else Message(ending or wording.finished)
        values.update(stage=Stage.DONE, percent=100.0, result=result or {},
                      message=sentence.english(), message_data=sentence.to_json())
    else:
        sentence = getattr(error, "sentence", None) or Message(str(error))
        values.update(error_code=getattr(error, "code", "error"), error_message=sentence.english(),
                      error_data=sentence.to_json(), message=sentence.english(), message_data=sentence.to_json())
    if not Operation.objects.filter(pk=op.pk, status__in=Operation.ACTIVE).update(**values):
        log.info("operation %s was already ended elsewhere; keeping that ending", op.id)
        op.refresh_from_db()
        return op
    op.refresh_from_db()
    if status == Status.SUCCEEDED:
        op.add_event(wording.succeeded_in, params={"seconds": f"{op.elapsed_seconds():.0f}"})
    else:
        op.add_event(sentence, level="warning" if status == Status.CANCELLED else "error", code=op.error_code)
        if wording.nothing_changed not in sentence.english():
            op.add_event(wording.nothing_changed)
    log.info("operation %s %s", op.id, status)
    operation_finished.send(sender=Operation, operation=op)
    return op


def fail_stale(op: Operation, error: DbkeeperError, check_heartbeat=True) -> bool:
    """Mark an operation that no worker runs any more as failed (watchdog, or
    a worker that is stopping), and drop its scratch copy. Returns False if it
    finished or came back to life meanwhile."""
    now = timezone.now()
    still_stale = Q(heartbeat_at=op.heartbeat_at) if check_heartbeat else Q()
    changed = Operation.objects.filter(
        Q(pk=op.pk), Q(status__in=[Status.RUNNING, Status.CANCELLING]), still_stale
    ).update(
        status=Status.FAILED, finished_at=now, updated_at=now, lock_key=None,
        error_code=error.code, error_message=error.message, error_data=error.sentence.to_json(),
        message=error.message, message_data=error.sentence.to_json(), eta_seconds=None,
    )
    if not changed:
        return False
    op.refresh_from_db()
    op.add_event(error.sentence, level="error", code=error.code)
    if op.kind == Operation.Kind.BACKUP:
        from .backup_runner import after_worker_lost

        after_worker_lost(op)
    if op.scratch_name:
        try:
            target = targets.on_server(op.target_spec, op.database)
            target.drop_named(op.scratch_name)
            Operation.objects.filter(pk=op.pk).update(scratch_name="")
            op.add_event(N_("The unfinished scratch copy was removed; the live database was not changed."))
        except Exception as exc:
            log.exception("could not drop scratch %s of %s", op.scratch_name, op.id)
            op.add_event(N_("The unfinished scratch copy %(name)s could not be removed: %(error)s."),
                         params={"name": op.scratch_name, "error": str(exc)}, level="warning")
    operation_finished.send(sender=Operation, operation=op)
    return True


def abandon_own_operations():
    """Called by a worker that is stopping: what it was running will not
    finish, so say so now instead of waiting for the watchdog."""
    from ..errors import WorkerLost

    mine = Operation.objects.filter(worker=worker_name(), status__in=[Status.RUNNING, Status.CANCELLING])
    for op in mine:
        if op.kind == Operation.Kind.BACKUP:
            error = WorkerLost(N_(
                "The worker was stopped while it ran this backup. Nothing was stored; you can start the backup again."
            ))
        elif op.kind in (Operation.Kind.DUPLICATE, Operation.Kind.DROP, Operation.Kind.UNDO):
            error = WorkerLost(N_("The worker was stopped while it ran this action on a database; an unfinished "
                                  "copy is removed. Look at the databases page before you start it again."))
        elif op.kind == Operation.Kind.VERIFY:
            error = WorkerLost(N_("The worker was stopped while it ran this verification; you can verify the backup "
                                  "again."))
        else:
            error = WorkerLost(N_(
                "The worker was stopped while it ran this restore. "
                "The live database was not changed; you can start the restore again."
            ))
        fail_stale(op, error, check_heartbeat=False)


def _drop_quietly(scratch):
    try:
        scratch.drop()
    except Exception:
        log.exception("could not drop scratch database %s", scratch.name)
