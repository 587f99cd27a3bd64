"""Runs one backup operation (kind "backup") in the worker or the CLI: the
same claim, heartbeat, cancel and ending as a restore (runner.py hands
backups over here), with what a backup says and cleans up: a backup that
did not finish leaves nothing in the storage and no catalog row."""

import logging

from ..errors import Cancelled, DbkeeperError
from ..messages import Message, N_
from ..streams import human_size
from .models import Operation
from .progress import Heartbeat, Progress
from .runner import Wording
from .runner import finish as runner_finish

log = logging.getLogger(__name__)

Status = Operation.Status
Stage = Operation.Stage


def run_claimed(op: Operation, listener=None) -> Operation:
    """Run a backup that ``runner.claim`` moved to running."""
    from ..backups import making

    progress = Progress(op, listener)
    with Heartbeat(op.id):
        try:
            request = making.BackupRequest.from_json((op.result or {}).get("request") or {})
            progress.stage(Stage.BACKING_UP, N_("Backing up %(target)s."), params={"target": op.target_display})
            backup = making.make(op, request, progress)
        except Cancelled:
            finish(op, Status.CANCELLED, error=Cancelled(N_("The backup was cancelled. Nothing was stored.")),
                   progress=progress)
        except DbkeeperError as exc:
            finish(op, Status.FAILED, error=exc, progress=progress)
        except Exception as exc:  # a bug: say so plainly, keep the trace in the log
            log.exception("backup %s failed unexpectedly", op.id)
            error = DbkeeperError(N_("The backup stopped on an unexpected error: %(error)s. Nothing was stored."),
                                  code="internal_error", params={"error": str(exc)})
            finish(op, Status.FAILED, error=error, progress=progress)
        else:
            finish(op, Status.SUCCEEDED, result=_result(backup), progress=progress)
        finally:
            _sweep(op)
    return op


def _result(backup) -> dict:
    return {
        "backup_id": backup.id, "format": backup.format, "format_label": backup.format_label, "size": backup.size,
        "sha256": backup.sha256, "storage": backup.storage, "storage_name": backup.storage_name,
        "tables": len(backup.tables), "rows": sum(backup.tables.values()),
        "message": Message(N_("The backup is stored: %(size)s."), {"size": human_size(backup.size)}).to_json(),
    }


def _sweep(op: Operation) -> bool:
    """Remove what this operation's unfinished writers left (a crash in the
    writer itself, an S3 multipart upload whose abort could not reach S3).
    If the storage cannot be reached now, the operation is marked and the
    watchdog tries again later (sweep_leftovers)."""
    storage_name = ((op.result or {}).get("request") or {}).get("storage")
    try:
        from ..backups.storage import get_storage

        get_storage(storage_name).sweep_unfinished(op.id)
        return True
    except Exception:
        log.warning("could not sweep the unfinished files of %s now; the watchdog will try again", op.id,
                    exc_info=True)
        op.refresh_from_db(fields=["result"])
        Operation.objects.filter(pk=op.pk).update(result={**(op.result or {}), "unswept": True})
        return False


def sweep_leftovers() -> list[str]:
    """Called by the watchdog: sweep again the ended backups whose sweep
    failed (their storage was unreachable); returns the ids now clean."""
    cleaned = []
    for op in Operation.objects.filter(kind=Operation.Kind.BACKUP, status__in=Operation.FINISHED,
                                       result__unswept=True):
        op.result = {k: v for k, v in op.result.items() if k != "unswept"}
        if _sweep(op):
            Operation.objects.filter(pk=op.pk).update(result=op.result)
            op.add_event(N_("The unfinished backup file left in the storage was removed."))
            cleaned.append(op.id)
    return cleaned


BACKUP_WORDING = Wording(
    finished=N_("The backup finished."),
    succeeded_in=N_("The backup succeeded in %(seconds)s s."),
    nothing_changed=N_("Nothing was stored."),
)


def finish(op: Operation, status, result=None, error=None, progress=None):
    """Record the end, as runner.finish does for a restore, keeping the
    request the backup was made from."""
    if status == Status.SUCCEEDED:
        result = {**(result or {}), "request": (op.result or {}).get("request")}
    return runner_finish(op, status, result=result, error=error, progress=progress, wording=BACKUP_WORDING)


def after_worker_lost(op: Operation):
    """Called by the watchdog once it failed a backup whose worker died:
    remove what the worker's unfinished writers left in the storage."""
    if _sweep(op):
        op.add_event(N_("The unfinished backup file was removed; nothing was stored."))
