"""Marks operations whose worker stopped beating as failed, and cleans up after them."""

import logging
import threading
from datetime import timedelta

from django.db import close_old_connections
from django.utils import timezone

from .. import conf
from ..errors import WorkerLost
from ..messages import N_
from .models import Operation
from .runner import fail_stale
from .signals import watchdog_swept

log = logging.getLogger(__name__)


def sweep() -> list[str]:
    """One pass; returns the ids of the operations it marked as failed."""
    limit = timezone.now() - timedelta(seconds=float(conf.get("HEARTBEAT_TIMEOUT")))
    stale = Operation.objects.filter(
        status__in=[Operation.Status.RUNNING, Operation.Status.CANCELLING], heartbeat_at__lt=limit
    )
    failed = []
    for op in stale:
        if op.kind == Operation.Kind.BACKUP:
            error = WorkerLost(N_(
                "The worker running this backup stopped (it was killed or its machine went down). "
                "Nothing was stored; you can start the backup again."
            ))
        elif op.kind == Operation.Kind.VERIFY:
            error = WorkerLost(N_(
                "The worker running this verification stopped (it was killed or its machine went down). "
                "You can verify the backup again."
            ))
        else:
            error = WorkerLost(N_(
                "The worker running this restore stopped (it was killed or its machine went down). "
                "The live database was not changed; you can start the restore again."
            ))
        if fail_stale(op, error):
            log.warning("operation %s: worker %s stopped beating; marked failed", op.id, op.worker)
            failed.append(op.id)
    # Backups whose unfinished upload could not be removed when they ended (storage unreachable).
    from .backup_runner import sweep_leftovers

    sweep_leftovers()
    # Pre-restore copies past their retention (at most once a minute).
    from .prerestore import maybe_prune

    try:
        maybe_prune()
    except Exception:
        log.exception("pruning the pre-restore copies failed; trying again later")
    watchdog_swept.send(sender=sweep)
    return failed


def run_forever(stop: threading.Event | None = None, schedules: bool = True):
    stop = stop or threading.Event()
    interval = float(conf.get("WATCHDOG_INTERVAL"))
    log.info("watchdog started (timeout %ss)", conf.get("HEARTBEAT_TIMEOUT"))
    if schedules and conf.get("SCHEDULES_TICK"):
        # The schedules' tick: a thread of its own here, never on a worker's threads (busy with long restores).
        from ..schedules.tick import start_thread

        start_thread(stop)
    while not stop.is_set():
        try:
            sweep()
        except Exception:
            log.exception("watchdog sweep failed; trying again")
        finally:
            close_old_connections()
        stop.wait(interval)
