"""The tick: record the runs that are due, follow them, and start them.

It runs on a thread of its own in the watchdog process (never on the worker's
threads, which may be busy with long restores for hours), every
SCHEDULE_TICK_SECONDS. Only one process should tick (``dbkeeper watchdog
--no-schedules`` for the others), and one started by mistake still cannot
double a slot: a run is a row unique on (schedule, slot), inserted or
skipped, and a run is started only by whoever claims it with a conditional
update.

One pass (``tick(now)``; ``now`` is passed in by the tests' simulated clock):

1. follow: a run's status follows its operation; once it succeeded,
   verify-after-backup per ``verify_every`` and service.after_successful_run.
2. record: for each enabled schedule whose cursor is due, the slots due
   since; the latest is queued (or skipped while the schedule's previous run
   is still going), the older ones (downtime: no tick ran) are missed.
3. dispatch: queued runs start as backups, oldest first, at most
   BACKUPS_PER_SERVER at a time against one database server and at most
   SCHEDULE_STARTS_PER_MINUTE a minute, so that schedules due the same minute
   are spread over the following ones.
"""

import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import close_old_connections, transaction
from django.utils import timezone

from .. import conf, targets
from ..errors import DbkeeperError, TargetBusy
from ..messages import Message, N_
from ..operations.models import Operation
from . import cron
from .models import Schedule, ScheduleRun

log = logging.getLogger(__name__)
Run = ScheduleRun.Status

# After downtime, at most this many missed slots of one schedule are recorded one by one.
MAX_MISSED_ROWS = 1000
# Slots older than this (downtime) are not looked at one by one.
LOOK_BACK = timedelta(days=31)
# A run claimed by a dispatcher that died before it queued the backup is failed after this.
CLAIM_TIMEOUT = timedelta(minutes=10)

MISSED = N_("Missed: nothing was ticking at this time (dbkeeper was stopped); only the latest missed run was started.")
SKIPPED = N_("Skipped: the previous run of this schedule was still going.")
PAUSED = N_("Skipped: the schedule was paused before this run started.")


@dataclass
class TickResult:
    queued: list = field(default_factory=list)  # (schedule id, slot) recorded as queued
    skipped: list = field(default_factory=list)
    missed: list = field(default_factory=list)
    started: list = field(default_factory=list)  # run ids whose backup was queued
    finished: list = field(default_factory=list)  # run ids that reached succeeded/failed


def tick(now=None) -> TickResult:
    now = now or timezone.now()
    result = TickResult()
    follow(now, result)  # first, so that a run that just ended does not make the next slot "skipped"
    record_due(now, result)
    dispatch(now, result)
    return result


# ------------------------------------------------------------------ 2. record


def _due_slots(schedule: Schedule, tz, now):
    """The slots due by ``now`` from the schedule's cursor (at most
    MAX_MISSED_ROWS + 1, the latest last) and the next cursor."""
    if schedule.next_due_at < now - LOOK_BACK:
        first = cron.first_after(schedule.cron, tz, now - LOOK_BACK)
    else:
        first = (schedule.next_slot, schedule.next_due_at)
    slots = deque([first], maxlen=MAX_MISSED_ROWS + 1)
    for slot, due in cron.slots_from(schedule.cron, tz, cron.parse_slot(first[0]), after_due=first[1]):
        if due > now:
            return list(slots), (slot, due)
        slots.append((slot, due))
    raise AssertionError("a cron expression always has a next time")  # pragma: no cover


def record_due(now, result: TickResult) -> None:
    due = list(Schedule.objects.filter(enabled=True, next_due_at__lte=now).only(
        "id", "cron", "timezone", "next_slot", "next_due_at"))
    if not due:
        return
    going = set(ScheduleRun.objects.filter(schedule_id__in=[s.id for s in due], status__in=ScheduleRun.ACTIVE)
                .values_list("schedule_id", flat=True))
    missed, skipped = Message(MISSED).to_json(), Message(SKIPPED).to_json()
    rows = []
    for schedule in due:
        tz = cron.zone(schedule.timezone)
        slots, (schedule.next_slot, schedule.next_due_at) = _due_slots(schedule, tz, now)
        *older, (slot, due_at) = slots
        for old_slot, old_due in older:
            rows.append(ScheduleRun(schedule_id=schedule.id, slot=old_slot, due_at=old_due, status=Run.MISSED,
                                    message=missed, created_at=now, finished_at=now))
            result.missed.append((schedule.id, old_slot))
        if schedule.id in going:
            rows.append(ScheduleRun(schedule_id=schedule.id, slot=slot, due_at=due_at, status=Run.SKIPPED,
                                    message=skipped, created_at=now, finished_at=now))
            result.skipped.append((schedule.id, slot))
        else:
            rows.append(ScheduleRun(schedule_id=schedule.id, slot=slot, due_at=due_at, status=Run.QUEUED,
                                    created_at=now))
            result.queued.append((schedule.id, slot))
    with transaction.atomic(using=ScheduleRun.objects.db):
        # Insert or skip: a slot another tick recorded first stays as that tick recorded it.
        ScheduleRun.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        Schedule.objects.bulk_update(due, ["next_slot", "next_due_at"], batch_size=500)
    log.debug("tick %s: %d queued, %d skipped, %d missed", now.isoformat(), len(result.queued),
              len(result.skipped), len(result.missed))


# ------------------------------------------------------------------ 1. follow


def _run_status(op: Operation):
    if op.status == Operation.Status.QUEUED:
        return Run.QUEUED
    if op.status in (Operation.Status.RUNNING, Operation.Status.CANCELLING):
        return Run.RUNNING
    return Run.SUCCEEDED if op.status == Operation.Status.SUCCEEDED else Run.FAILED


def follow(now, result: TickResult) -> None:
    active = list(ScheduleRun.objects.filter(status__in=ScheduleRun.ACTIVE).exclude(operation_id=""))
    ops = {op.id: op for op in Operation.objects.filter(pk__in=[r.operation_id for r in active]).only(
        "id", "status", "backup_id", "error_message", "error_data")}
    for run in active:
        op = ops.get(run.operation_id)
        status = _run_status(op) if op is not None else Run.FAILED
        if status == run.status:
            continue
        if status in (Run.QUEUED, Run.RUNNING):
            ScheduleRun.objects.filter(pk=run.pk, status__in=ScheduleRun.ACTIVE).update(status=status)
            continue
        if op is None:
            message = Message(N_("Its backup operation %(id)s no longer exists."), {"id": run.operation_id})
        elif status == Run.FAILED:
            message = Message.from_json(op.error_data) if op.error_data else Message(N_("The backup failed."))
        else:
            message = Message(N_("Backup %(id)s made."), {"id": op.backup_id})
        # Conditional: of two ticks following the same run, one ends it and acts on it.
        if ScheduleRun.objects.filter(pk=run.pk, status__in=ScheduleRun.ACTIVE).update(
                status=status, finished_at=now, message=message.to_json(),
                backup_id=op.backup_id if op is not None and status == Run.SUCCEEDED else run.backup_id):
            result.finished.append(run.pk)
            if status == Run.SUCCEEDED:
                run.refresh_from_db()
                succeeded(run)
    # Claimed by a dispatcher that stopped before its backup was queued.
    stale = Message(N_("The run was claimed but its backup was never queued (the ticking process stopped)."))
    ScheduleRun.objects.filter(status=Run.QUEUED, operation_id="", started_at__lt=now - CLAIM_TIMEOUT).update(
        status=Run.FAILED, finished_at=now, message=stale.to_json())


def succeeded(run: ScheduleRun) -> None:
    """Verify-after-backup (every ``verify_every``-th successful run), then retention."""
    from . import service

    schedule = run.schedule
    if schedule.verify_every:
        count = ScheduleRun.objects.filter(schedule=schedule, status=Run.SUCCEEDED).count()
        if count % schedule.verify_every == 0:
            from ..backups.verification import start_verify

            try:
                op = start_verify(run.backup_id).operation
            except DbkeeperError as exc:
                log.warning("schedule %s: verification of %s could not start: %s", schedule.id, run.backup_id,
                            exc.message)
                note = Message(N_("Backup %(id)s made; its verification could not start: %(error)s"),
                               {"id": run.backup_id, "error": exc.sentence})
                ScheduleRun.objects.filter(pk=run.pk).update(message=note.to_json())
            else:
                ScheduleRun.objects.filter(pk=run.pk).update(verify_operation_id=op.id)
                run.verify_operation_id = op.id
    try:
        service.after_successful_run(run)
    except Exception:
        log.exception("schedule %s: what follows a successful run failed for %s", schedule.id, run.slot)


# ------------------------------------------------------------------ 3. dispatch


def server_of(target) -> tuple[str, str]:
    """(the server's name for BACKUPS_PER_SERVER_OVERRIDES, the prefix of the lock keys of its databases)."""
    if target.kind == "postgresql":
        return f"{target.url.host}:{target.url.port}", f"postgresql:{target.url.host}:{target.url.port}:"
    key = target.lock_key()
    return key.split(":", 1)[-1], key


def server_limit(server: str) -> int:
    overrides = conf.get("BACKUPS_PER_SERVER_OVERRIDES") or {}
    return int(overrides.get(server, conf.get("BACKUPS_PER_SERVER")))


def _busy_on(server, prefix) -> int:
    backups = Operation.objects.filter(kind=Operation.Kind.BACKUP, status__in=Operation.ACTIVE,
                                       lock_key__startswith=prefix).count()
    claimed = ScheduleRun.objects.filter(server=server, status=Run.QUEUED, operation_id="",
                                         started_at__isnull=False).count()
    return backups + claimed


def _end(run, status, message, now):
    ScheduleRun.objects.filter(pk=run.pk).update(status=status, message=Message(message).to_json(), finished_at=now)


def dispatch(now, result: TickResult) -> None:
    room = int(conf.get("SCHEDULE_STARTS_PER_MINUTE")) - ScheduleRun.objects.filter(
        started_at__gt=now - timedelta(minutes=1)).count()
    if room <= 0:
        return
    waiting = ScheduleRun.objects.filter(status=Run.QUEUED, operation_id="", started_at__isnull=True).select_related(
        "schedule").order_by("due_at", "id")[:500]
    full = set()
    for run in waiting:
        schedule = run.schedule
        if not schedule.enabled:
            _end(run, Run.SKIPPED, PAUSED, now)
            continue
        try:
            target = targets.resolve(schedule.target)
        except DbkeeperError as exc:
            _end(run, Run.FAILED, exc.sentence, now)
            continue
        server, prefix = server_of(target)
        if server in full:
            continue
        if _busy_on(server, prefix) >= server_limit(server):
            full.add(server)
            continue
        # Claim it: of two dispatchers, one starts it.
        if not ScheduleRun.objects.filter(pk=run.pk, started_at__isnull=True, operation_id="").update(
                started_at=now, server=server):
            continue
        if start(run, now):
            result.started.append(run.pk)
            room -= 1
            if room <= 0:
                return


def start(run: ScheduleRun, now) -> bool:
    """Queue the run's backup; False if it waits (its target is busy) or failed to start."""
    from ..backups.service import launch, plan_backup

    schedule = run.schedule
    try:
        plan = plan_backup(schedule.target, format=schedule.format or None, storage=schedule.storage or None,
                           origin=f"schedule:{schedule.id}", named_only=True)
        if not schedule.encrypt:
            plan.request.recipients = []
        op = launch(plan).operation
    except TargetBusy:
        # A restore or another backup of this very database: wait for the next pass.
        ScheduleRun.objects.filter(pk=run.pk).update(started_at=None, server="")
        return False
    except DbkeeperError as exc:
        log.warning("schedule %s: the backup of slot %s could not start: %s", schedule.id, run.slot, exc.message)
        _end(run, Run.FAILED, exc.sentence, now)
        return False
    ScheduleRun.objects.filter(pk=run.pk).update(operation_id=op.id, backup_id=op.backup_id)
    log.info("schedule %s (%s): backup %s of slot %s queued as %s", schedule.id, schedule.name, op.backup_id,
             run.slot, op.id)
    return True


# ------------------------------------------------------------------ the thread


def run_forever(stop: threading.Event) -> None:
    interval = float(conf.get("SCHEDULE_TICK_SECONDS"))
    log.info("schedules ticking every %ss", interval)
    while not stop.is_set():
        try:
            tick()
        except Exception:
            log.exception("schedule tick failed; trying again")
        finally:
            close_old_connections()
        stop.wait(interval)


def start_thread(stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=run_forever, args=(stop,), name="dbkeeper-schedules", daemon=True)
    thread.start()
    return thread
