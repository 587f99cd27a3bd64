"""Runs one verification (kind "verify") in the worker or the CLI: the same
claim, heartbeat, cancel and ending as a restore (runner.py hands
verifications over here). Whatever happens, the scratch copy is dropped (once
the operation has ended: the outcome does not wait for it), and an outcome
that says something about the backup is recorded on it."""

import logging

from ..errors import Cancelled, DbkeeperError
from ..messages import Message, N_
from .models import Operation
from .progress import Heartbeat, Progress
from .runner import Wording
from .runner import finish as runner_finish

log = logging.getLogger(__name__)

Status = Operation.Status

VERIFY_WORDING = Wording(
    finished=N_("The verification finished."),
    succeeded_in=N_("The verification succeeded in %(seconds)s s."),
    nothing_changed=N_("No database was replaced; the backup itself was not changed."),
)


def run_claimed(op: Operation, listener=None) -> Operation:
    """Run a verification that ``runner.claim`` moved to running."""
    from ..backups import verification

    progress = Progress(op, listener)
    after = []  # the scratch copy is dropped once the outcome is recorded
    with Heartbeat(op.id):
        try:
            result = verification.verify(op, progress, after=after)
        except Cancelled:
            finish(op, Status.CANCELLED, error=Cancelled(N_("The verification was cancelled.")), progress=progress)
        except DbkeeperError as exc:
            if verification.counts_as_outcome(exc):
                verification.record_outcome(op, False, exc.sentence)
            finish(op, Status.FAILED, error=exc, progress=progress)
        except Exception as exc:  # a bug: say so plainly, keep the trace in the log
            log.exception("verification %s failed unexpectedly", op.id)
            error = DbkeeperError(N_("The verification stopped on an unexpected error: %(error)s."),
                                  code="internal_error", params={"error": str(exc)})
            finish(op, Status.FAILED, error=error, progress=progress)
        else:
            verification.record_outcome(op, True, Message.from_json(result["message"]))
            finish(op, Status.SUCCEEDED, result=result, progress=progress)
        finally:
            for step in after:
                step()
    return op


def finish(op: Operation, status, result=None, error=None, progress=None):
    return runner_finish(op, status, result=result, error=error, progress=progress, wording=VERIFY_WORDING)
