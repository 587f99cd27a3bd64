"""Backup health at a glance: for each target the user may view, its last
backup and age, last verification, next scheduled run, health (ok / stale /
failing) with the reasons, total size in storage, the last runs (sizes and
durations) and a 90-day calendar of kept backups with why they are kept.
The dashboard, ``GET api/health/`` and ``dbkeeper status`` all show this."""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from .. import targets
from ..access.permissions import require, require_anywhere, visible_targets
from ..backups.models import Backup
from ..errors import DbkeeperError
from ..messages import Message, N_
from ..operations.models import Operation
from .models import Alert

log = logging.getLogger(__name__)

OK, STALE, FAILING = "ok", "stale", "failing"
RANK = {OK: 0, STALE: 1, FAILING: 2}
EXIT_CODES = RANK  # dbkeeper status: 0 all ok, 1 stale, 2 failing
RUNS_SHOWN = 60
CALENDAR_DAYS = 90
# A slot counts as passed this long after it was due (the tick and the queue get time to start it).
SLOT_GRACE = timedelta(minutes=1)


# -- schedules -----------------------------------------------------------------------------

@dataclass
class ScheduleFacts:
    id: str
    name: str
    target: str
    enabled: bool
    cron: str
    timezone: str
    next_run: datetime | None
    stale: bool
    last_slots: list = field(default_factory=list)  # the last two passed slots, newest first (UTC)


def _zone(name):
    try:
        return ZoneInfo(name or settings.TIME_ZONE or "UTC")
    except Exception:
        return ZoneInfo("UTC")


def passed_slots(cron: str, zone_name: str, now: datetime, count: int = 2) -> list:
    """The last ``count`` times ``cron`` fired (in its time zone) that are at
    least SLOT_GRACE old, newest first, in UTC."""
    from croniter import croniter

    it = croniter(cron, (now - SLOT_GRACE).astimezone(_zone(zone_name)))
    return [it.get_prev(datetime).astimezone(ZoneInfo("UTC")) for _ in range(count)]


def next_run(cron: str, zone_name: str, now: datetime) -> datetime:
    from croniter import croniter

    return croniter(cron, now.astimezone(_zone(zone_name))).get_next(datetime).astimezone(ZoneInfo("UTC"))


def schedule_facts(now=None, target: str | None = None) -> list[ScheduleFacts]:
    """Every schedule (of ``target``), with its next run and whether it is
    stale: enabled, older than its second-last passed slot, and no successful
    run (nor a backup it made) since that slot."""
    from ..schedules.models import Schedule, ScheduleRun

    now = now or timezone.now()
    rows = Schedule.objects.all()
    if target is not None:
        rows = rows.filter(target=target)
    facts = []
    for s in rows:
        try:
            slots = passed_slots(s.cron, s.timezone, now)
            upcoming = next_run(s.cron, s.timezone, now) if s.enabled else None
        except Exception:  # a cron expression the schedules part refuses when saved; never break the overview
            log.warning("schedule %s: cannot read its cron expression %r", s.id, s.cron)
            facts.append(ScheduleFacts(s.id, s.name, s.target, s.enabled, s.cron, s.timezone, None, False))
            continue
        if s.enabled and s.next_due_at and s.next_due_at > now:
            upcoming = min(upcoming, s.next_due_at) if upcoming else s.next_due_at
        stale = False
        if s.enabled and s.created_at <= slots[-1]:
            since = slots[-1]
            succeeded = ScheduleRun.objects.filter(schedule=s, status=ScheduleRun.Status.SUCCEEDED,
                                                   due_at__gte=since).exists()
            made = Backup.objects.filter(origin=f"schedule:{s.id}", created_at__gte=since).exists()
            stale = not (succeeded or made)
        facts.append(ScheduleFacts(s.id, s.name, s.target, s.enabled, s.cron, s.timezone, upcoming, stale, slots))
    return facts


# -- why a backup is kept --------------------------------------------------------------------

def kept_reasons(backups, target: str) -> dict:
    """Backup id -> (kept, list of Messages saying why): the retention
    planner's decision ("daily 2026-11-29", "pinned", "no rule keeps it"...)
    under the target's policy or, for what a schedule made, the schedule's;
    where the planner has no decision, who made it."""
    planned = _retention_decisions(target)
    reasons = {}
    for b in backups:
        if b.id in planned:
            reasons[b.id] = planned[b.id]
            continue
        words = [Message(N_("pinned"))] if b.pinned else []
        if b.origin.startswith("schedule:"):
            words.append(Message(N_("kept: made by schedule %(name)s"), {"name": b.origin.split(":", 1)[1]}))
        elif b.source == "upload":
            words.append(Message(N_("kept: uploaded by %(user)s"), {"user": b.username or "-"}))
        else:
            words.append(Message(N_("kept: made by %(user)s"), {"user": b.username or "-"}))
        reasons[b.id] = (True, words)
    return reasons


def _retention_decisions(target) -> dict:
    """Backup id -> (keep, reasons) from a retention preview (nothing changes)."""
    from ..backups import pruning
    from ..schedules.models import Schedule

    out = {}
    try:
        groups = pruning.preview(target)
        for s in Schedule.objects.filter(target=target).exclude(retention={}):
            groups += pruning.preview(target, policy=s.retention, tz=s.timezone, origin=f"schedule:{s.id}")
    except Exception:  # a policy the planner refuses must not take the dashboard down
        log.warning("retention preview of %s failed; the dashboard says who made each backup instead", target,
                    exc_info=True)
        return out
    for group in groups:
        for decision in group.decisions:
            out[decision.id] = (decision.keep, list(decision.reasons))
    return out


# -- the overview ------------------------------------------------------------------------------

def _iso(value):
    return value.isoformat() if value else None


def target_health(name: str, now=None) -> dict:
    now = now or timezone.now()
    rows = Backup.objects.filter(Q(target_spec=name))
    last = rows.order_by("-created_at").first()
    verified = rows.filter(verification_outcome="passed").exclude(verified_at=None).order_by("-verified_at").first()
    total = rows.aggregate(total=Sum("size"))["total"] or 0
    recent = list(rows.order_by("-created_at")[:RUNS_SHOWN])[::-1]  # oldest first
    zone = _zone(None)
    today = timezone.localtime(now, zone).date()
    first_day = today - timedelta(days=CALENDAR_DAYS - 1)
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=zone)
    in_window = list(rows.filter(created_at__gte=start).order_by("created_at"))
    reasons = kept_reasons(in_window, name)
    days = {}
    for b in in_window:
        day = timezone.localtime(b.created_at, zone).date()
        entry = days.setdefault(day, {"backups": 0, "kept": 0, "reasons": [], "dropped": []})
        entry["backups"] += 1
        keep, words = reasons.get(b.id, (True, []))
        entry["kept"] += 1 if keep else 0
        bucket = entry["reasons"] if keep else entry["dropped"]
        for r in words:
            text = r.render() if isinstance(r, Message) else str(r)
            if text not in bucket:
                bucket.append(text)
    calendar = []
    for i in range(CALENDAR_DAYS):
        day = first_day + timedelta(days=i)
        entry = days.get(day, {"backups": 0, "kept": 0, "reasons": [], "dropped": []})
        # Why the day's backups are kept; for a day whose backups the next prune deletes, why not.
        calendar.append({"date": day.isoformat(), "backups": entry["backups"], "kept": entry["kept"],
                         "reasons": entry["reasons"] if entry["kept"] else entry["dropped"]})

    problems, state = [], OK
    facts = schedule_facts(now=now, target=name)
    for f in facts:
        if f.stale:
            state = max(state, STALE, key=RANK.get)
            problems.append(Message(N_("The schedule %(schedule)s is stale: its last two runs did not make a backup."),
                                    {"schedule": f.name}).render())
    alerts = list(Alert.objects.filter(state=Alert.State.OPEN).filter(Q(target=name) | Q(kind=Alert.Kind.STORAGE)))
    for a in alerts:
        if a.kind == Alert.Kind.STALE:
            continue  # said above, from the schedule itself
        state = FAILING
        problems.append(a.rendered())
    last_op = (Operation.objects.filter(kind=Operation.Kind.BACKUP, target_spec=name, status__in=Operation.FINISHED)
               .exclude(status=Operation.Status.CANCELLED).order_by("-finished_at").first())
    if last_op is not None and last_op.status == Operation.Status.FAILED and not any(
            a.operation_id == last_op.id for a in alerts):
        state = FAILING
        problems.append(Message(N_("The last backup failed: %(error)s"), {"error": last_op.rendered_error()}).render())
    upcoming = [f.next_run for f in facts if f.next_run]
    return {
        "target": name,
        "health": state,
        "problems": problems,
        "last_backup": None if last is None else {
            "id": last.id, "name": last.name, "created_at": _iso(last.created_at), "size": last.size,
            "age_seconds": max(0, int((now - last.created_at).total_seconds())),
        },
        "last_verified": None if verified is None else {
            "id": verified.id, "name": verified.name, "verified_at": _iso(verified.verified_at),
            "age_seconds": max(0, int((now - verified.verified_at).total_seconds())),
        },
        "next_run": _iso(min(upcoming)) if upcoming else None,
        "schedules": [{"id": f.id, "name": f.name, "enabled": f.enabled, "cron": f.cron, "timezone": f.timezone,
                       "next_run": _iso(f.next_run), "stale": f.stale} for f in facts],
        "total_size": total,
        "backups": rows.count(),
        "runs": [{"id": b.id, "created_at": _iso(b.created_at), "size": b.size,
                  "duration_seconds": b.duration_seconds} for b in recent],
        "calendar": calendar,
        "alerts": [{"key": a.key, "kind": a.kind, "first_seen": _iso(a.first_seen), "last_seen": _iso(a.last_seen),
                    "count": a.count, "message": a.rendered()} for a in alerts],
    }


def overview(user, target: str = "", now=None, everything=False) -> dict:
    """The health of every target ``user`` may view (or of one), and the
    worst of them. Refuses an unknown target, or one the user may not view.
    ``everything``: the command line, run by whoever runs the server, sees
    every target."""
    now = now or timezone.now()
    names = sorted(targets.configured_targets())
    if target:
        if target not in names:
            raise DbkeeperError(N_("There is no target named %(name)s."), code="target_unknown",
                                params={"name": target})
        if not everything:
            require(user, "view", target)
        names = [target]
    if not everything:
        require_anywhere(user, "view")  # someone with no right at all is refused, not shown an empty list
    shown = names if everything else visible_targets(user, names)
    rows = [target_health(name, now=now) for name in shown]
    worst = max((r["health"] for r in rows), key=RANK.get, default=OK)
    return {"generated_at": _iso(now), "health": worst, "exit_code": EXIT_CODES[worst], "targets": rows}
