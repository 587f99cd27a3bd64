"""Schedules: adding, changing, pausing and removing them, and what happens
after a successful run. The web, the API and the command line all go through
here, so the same checks hold everywhere; each change is an audit row."""

import logging
import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import targets
from ..access.permissions import require, require_anywhere, visible_targets
from ..audit import service as audit
from ..errors import DbkeeperError, TargetError
from ..messages import N_, Np_
from . import cron
from .models import Schedule, ScheduleRun

log = logging.getLogger(__name__)

FIELDS = ("name", "target", "format", "storage", "encrypt", "cron", "timezone", "retention", "verify_every",
          "enabled")
RETENTION_COUNTS = ("keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")
RETENTION_KEYS = RETENTION_COUNTS + ("keep_within",)
# restic's duration: numbers with y, m, d or h, e.g. "1y2m" or "30d".
DURATION = re.compile(r"^(\d+[ymdh])+$")


class ScheduleError(DbkeeperError):
    code = "invalid_schedule"


# ------------------------------------------------------------------ checks


def _text(data, key, limit):
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ScheduleError(N_("The field %(field)s must be text."), params={"field": key})
    value = value.strip()
    if len(value) > limit:
        raise ScheduleError(Np_("The field %(field)s is longer than %(count)s character.",
                                "The field %(field)s is longer than %(count)s characters."),
                            params={"field": key, "count": limit})
    return value


def _bool(data, key):
    value = data.get(key)
    if not isinstance(value, bool):
        raise ScheduleError(N_("The field %(field)s must be true or false."), params={"field": key})
    return value


def _count(value, key):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ScheduleError(N_("The field %(field)s must be a whole number, 0 or more."), params={"field": key})
    return value


def check_retention(policy) -> dict:
    """A retention policy dict (see models.Schedule.retention), checked."""
    if policy in (None, ""):
        return {}
    if not isinstance(policy, dict):
        raise ScheduleError(N_("The retention policy must be an object such as {\"keep_daily\": 7}."))
    unknown = sorted(set(policy) - set(RETENTION_KEYS))
    if unknown:
        raise ScheduleError(N_("The retention policy has unknown keys: %(keys)s. The keys are: %(known)s."),
                            params={"keys": unknown, "known": list(RETENTION_KEYS)})
    clean = {}
    for key in RETENTION_COUNTS:
        if key in policy:
            clean[key] = _count(policy[key], key)
    if "keep_within" in policy:
        within = policy["keep_within"]
        if not isinstance(within, str) or not DURATION.match(within.strip()):
            raise ScheduleError(N_("keep_within must be a duration such as 30d, 12h or 1y2m (y, m, d, h), "
                                   "not %(value)s."), params={"value": repr(within)})
        clean["keep_within"] = within.strip()
    return clean


def _check_target(name, user):
    if not name:
        raise ScheduleError(N_("Choose the target to back up."), code="target_required")
    if name not in targets.configured_targets():
        raise TargetError(N_("There is no target named %(name)s."), code="target_unknown", params={"name": name})
    if user is not None:  # None: the command line, which may do everything
        require(user, "manage_schedules", name)


def _check_backup_options(values):
    from ..backups import makers
    from ..backups.encryption import default_recipients
    from ..backups.storage import get_storage

    if values["format"]:
        maker = makers.by_format(values["format"])
        kind = targets.resolve(values["target"]).kind
        if kind not in maker.target_kinds:
            raise ScheduleError(N_("The format %(format)s cannot back up a %(kind)s database."),
                                code="bad_format", params={"format": values["format"], "kind": kind})
    if values["storage"]:
        get_storage(values["storage"])
    if values["encrypt"] and not default_recipients():
        raise ScheduleError(N_("Encryption needs the public keys backups are encrypted to (the AGE_RECIPIENTS "
                               "setting); none is configured."), code="encryption_unavailable")


def clean(data, current: Schedule | None = None, user=None) -> dict:
    """The schedule's fields from ``data`` (a dict as JSON gives it), over
    those of ``current`` when editing; every check, nothing saved."""
    if not isinstance(data, dict):
        raise ScheduleError(N_("Send the schedule as a JSON object."))
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ScheduleError(N_("Unknown fields: %(fields)s. The fields are: %(known)s."),
                            params={"fields": unknown, "known": list(FIELDS)})
    values = {f: getattr(current, f) for f in FIELDS} if current is not None else {
        "name": "", "target": "", "format": "", "storage": "", "encrypt": False, "cron": "",
        "timezone": settings.TIME_ZONE or "UTC", "retention": {}, "verify_every": 0, "enabled": True}
    for key in ("name", "target", "format", "storage", "cron", "timezone"):
        if key in data:
            values[key] = _text(data, key, 255 if key == "target" else 100)
    for key in ("encrypt", "enabled"):
        if key in data:
            values[key] = _bool(data, key)
    if "verify_every" in data:
        values["verify_every"] = _count(data["verify_every"], "verify_every")
    if "retention" in data:
        values["retention"] = check_retention(data["retention"])
    if not values["name"]:
        raise ScheduleError(N_("Give the schedule a name."), code="name_required")
    _check_target(values["target"], user)
    values["cron"] = cron.check_cron(values["cron"])
    cron.check_zone(values["timezone"])
    _check_backup_options(values)
    return values


# ------------------------------------------------------------------ reading


def find(ref) -> Schedule:
    """A schedule by id or name."""
    ref = str(ref or "").strip()
    schedule = Schedule.objects.filter(pk=ref).first() or Schedule.objects.filter(name=ref).first()
    if schedule is None:
        raise DbkeeperError(N_("There is no schedule %(name)s."), code="not_found", params={"name": ref})
    return schedule


def get_schedule(ref, user=None) -> Schedule:
    schedule = find(ref)
    if user is not None:
        require(user, "view", schedule.target)
    return schedule


def list_schedules(user=None) -> list:
    if user is not None:
        require_anywhere(user, "view")  # someone with no right at all is refused, not shown an empty list
    schedules = list(Schedule.objects.all())
    if user is None:
        return schedules
    allowed = set(visible_targets(user, sorted({s.target for s in schedules})))
    return [s for s in schedules if s.target in allowed]


def preview(data, user=None, now=None, count=5) -> list:
    """The next ``count`` run times of a cron expression and time zone (aware, in that zone); nothing saved."""
    if not isinstance(data, dict):
        raise ScheduleError(N_("Send the schedule as a JSON object."))
    if user is not None:
        require_anywhere(user, "view")
    zone_name = data.get("timezone") or settings.TIME_ZONE or "UTC"
    if not isinstance(zone_name, str) or not isinstance(data.get("cron", ""), str):
        raise ScheduleError(N_("The cron expression and the time zone must be text."))
    return cron.next_times(data.get("cron", ""), zone_name, now or timezone.now(), count)


def next_times(schedule: Schedule, now=None, count=5) -> list:
    return cron.next_times(schedule.cron, schedule.timezone, now or timezone.now(), count)


def last_runs(schedules) -> dict:
    """schedule id -> its latest run (or None)."""
    latest = {}
    for run in ScheduleRun.objects.filter(schedule__in=list(schedules)).order_by("schedule_id", "-due_at", "-id"):
        latest.setdefault(run.schedule_id, run)
    return latest


def as_dict(schedule: Schedule, now=None, last_run=None, with_times=True) -> dict:
    out = {f: getattr(schedule, f) for f in FIELDS}
    out.update(id=schedule.id, created_at=schedule.created_at.isoformat(), updated_at=schedule.updated_at.isoformat(),
               created_by=schedule.created_by)
    out["next_times"] = ([t.isoformat() for t in next_times(schedule, now)] if with_times and schedule.enabled
                         else [])
    out["last_run"] = run_dict(last_run) if last_run is not None else None
    return out


def run_dict(run: ScheduleRun) -> dict:
    return {"id": run.id, "schedule": run.schedule_id, "slot": run.slot, "due_at": run.due_at.isoformat(),
            "recorded_at": run.created_at.isoformat(), "status": run.status, "operation_id": run.operation_id, "backup_id": run.backup_id,
            "verify_operation_id": run.verify_operation_id, "message": run.rendered_message()}


# ------------------------------------------------------------------ changing


def _cursor(schedule: Schedule, now):
    """Point the tick at the first slot after ``now`` (a new, changed or resumed schedule
    does not run the slots that passed before)."""
    slot, due = cron.first_after(schedule.cron, cron.zone(schedule.timezone), now)
    schedule.next_slot, schedule.next_due_at = slot, due


def _audit(action, schedule, user, outcome="ok", details=None):
    audit.record(action, user=user, target=schedule.target, outcome=outcome,
                 details={"schedule": schedule.id, "name": schedule.name, **(details or {})})


def create_schedule(data, user=None, now=None) -> Schedule:
    if user is not None:
        # Here on at least one target (a refusal before any other check); clean() asks on the schedule's.
        require_anywhere(user, "manage_schedules")
    values = clean(data, user=user)
    now = now or timezone.now()
    schedule = Schedule(**values, created_by=user.get_username() if user is not None else "", created_at=now,
                        updated_at=now)
    _cursor(schedule, now)
    try:
        with transaction.atomic(using=Schedule.objects.db):
            schedule.save(force_insert=True)
    except IntegrityError:
        raise ScheduleError(N_("There is already a schedule named %(name)s."), code="schedule_exists",
                            params={"name": values["name"]}) from None
    log.info("schedule %s (%s) added: %s %s", schedule.id, schedule.name, schedule.cron, schedule.timezone)
    _audit("schedule.add", schedule, user, details={"cron": schedule.cron, "timezone": schedule.timezone})
    return schedule


def update_schedule(ref, data, user=None, now=None) -> Schedule:
    schedule = find(ref)
    if user is not None:
        require(user, "manage_schedules", schedule.target)
    values = clean(data, current=schedule, user=user)
    changed = {k: v for k, v in values.items() if getattr(schedule, k) != v}
    if not changed:
        return schedule
    now = now or timezone.now()
    for key, value in values.items():
        setattr(schedule, key, value)
    schedule.updated_at = now
    if {"cron", "timezone", "enabled"} & set(changed):
        _cursor(schedule, now)
    try:
        with transaction.atomic(using=Schedule.objects.db):
            schedule.save()
    except IntegrityError:
        raise ScheduleError(N_("There is already a schedule named %(name)s."), code="schedule_exists",
                            params={"name": values["name"]}) from None
    action = {(False,): "schedule.pause", (True,): "schedule.resume"}.get(
        (changed["enabled"],) if set(changed) == {"enabled"} else None, "schedule.edit")
    _audit(action, schedule, user, details={"changed": sorted(changed)})
    return schedule


def set_enabled(ref, enabled: bool, user=None, now=None) -> Schedule:
    return update_schedule(ref, {"enabled": bool(enabled)}, user=user, now=now)


def delete_schedule(ref, user=None) -> None:
    schedule = find(ref)
    if user is not None:
        require(user, "manage_schedules", schedule.target)
    _audit("schedule.remove", schedule, user)
    schedule.delete()
    log.info("schedule %s (%s) removed", schedule.id, schedule.name)


# ------------------------------------------------------------------ after a run


def after_successful_run(run: ScheduleRun) -> None:
    """Called once for each scheduled run that succeeded, after verify-after-backup was started:
    the schedule's retention policy prunes the schedule's own backups (the new one is the newest,
    and one being verified is in use, so neither goes)."""
    from ..backups.pruning import prune

    schedule = run.schedule
    if not schedule.retention:
        return
    try:
        result = prune(schedule.target, policy=schedule.retention, tz=schedule.timezone, origin=f"schedule:{schedule.id}")
    except DbkeeperError as exc:
        # A prune that cannot run must not fail the backup that succeeded; the next run tries again.
        log.error("schedule %s: retention after run %s failed: %s", schedule.name, run.slot, exc.message)
        return
    log.info("schedule %s: retention after run %s deleted %d backup(s), %d failed",
             schedule.name, run.slot, len(result.deleted), len(result.failed))
