"""Which backups a retention policy keeps, and why: a pure planner.

The rules are those of restic's ``forget`` (its documentation, "Removing
snapshots according to a policy"):

- ``keep_last N``: the N newest backups;
- ``keep_within D`` (``1y2m5d3h``): every backup newer than D before the
  newest backup (not before now: a policy never empties a catalog whose
  backups simply stopped);
- ``keep_daily/weekly/monthly/yearly N``: for each of the last N days, ISO
  weeks, months or years that have a backup, the newest backup of that
  period; while a rule still has periods left when the oldest backup is
  reached, the oldest backup is kept too (restic's "the oldest snapshot is
  kept additionally");
- ``-1`` for a count keeps every period;
- the rules combine by union; periods are read on the wall clock of the
  given time zone.

Whatever the policy says, these are never deleted: a pinned backup, a backup
an active restore or verification reads ("in use"), and the newest verified
backup of the target. ``{}`` or ``None`` keeps everything.

``plan`` needs no database: the catalog side (``retention_service``) feeds it
plain tuples, so that a pass over 100,000 backups stays fast and small.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import DbkeeperError
from ..messages import Message, N_

COUNT_RULES = ("keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")
RULES = COUNT_RULES + ("keep_within",)
_DURATION = re.compile(r"(\d+)([ymdh])")

# Reasons, one template per rule; the parameter is the period or the rule's value.
REASONS = {
    "keep_last": N_("last %(value)s"),
    "keep_within": N_("within %(value)s"),
    "keep_daily": N_("daily %(value)s"),
    "keep_weekly": N_("weekly %(value)s"),
    "keep_monthly": N_("monthly %(value)s"),
    "keep_yearly": N_("yearly %(value)s"),
}
# The oldest backup kept because a rule still had periods left.
OLDEST_REASONS = {
    "keep_last": N_("last %(value)s"),
    "keep_daily": N_("daily %(value)s, the oldest backup"),
    "keep_weekly": N_("weekly %(value)s, the oldest backup"),
    "keep_monthly": N_("monthly %(value)s, the oldest backup"),
    "keep_yearly": N_("yearly %(value)s, the oldest backup"),
}
PINNED = N_("pinned")
IN_USE = N_("in use")
NEWEST_VERIFIED = N_("newest verified")
EMPTY_POLICY = N_("no retention policy")
NO_RULE = N_("no rule keeps it")


class PolicyError(DbkeeperError):
    code = "invalid_policy"


@dataclass(frozen=True, slots=True)
class Duration:
    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    def __str__(self):
        return "".join(f"{n}{u}" for n, u in ((self.years, "y"), (self.months, "m"), (self.days, "d"),
                                              (self.hours, "h")) if n) or "0h"

    def before(self, moment: datetime, tz) -> datetime:
        """``moment`` minus this duration: years, months and days on the wall
        clock of ``tz`` (a month back from 31 March is 3 March, as restic's
        Go AddDate normalises it), then hours as elapsed time."""
        local = moment.astimezone(tz)
        month0 = local.month - 1 - self.months
        year = local.year - self.years + month0 // 12
        month = month0 % 12 + 1
        # Go normalises an overflowing day into the next month.
        first = local.replace(year=year, month=month, day=1, tzinfo=None)
        wall = first + timedelta(days=local.day - 1 - self.days)
        start = wall.replace(tzinfo=tz)
        return start.astimezone(dt_timezone.utc) - timedelta(hours=self.hours)


def parse_duration(text) -> Duration:
    """``"30d"``, ``"1y2m5d"``, ``"12h"`` (restic's units y, m, d, h)."""
    value = str(text or "").strip().lower()
    parts = _DURATION.findall(value)
    if not value or "".join(n + u for n, u in parts) != value or len({u for _, u in parts}) != len(parts):
        raise PolicyError(N_("%(value)s is not a duration: write it like 30d, 12h or 1y2m5d (years, months, days, "
                             "hours)."), params={"value": str(text)})
    units = {u: int(n) for n, u in parts}
    duration = Duration(units.get("y", 0), units.get("m", 0), units.get("d", 0), units.get("h", 0))
    if not any((duration.years, duration.months, duration.days, duration.hours)):
        raise PolicyError(N_("A keep-within duration must be longer than zero."))
    return duration


def clean_policy(policy) -> dict:
    """The policy with its values checked and normalised (counts as int, -1
    for every period; keep_within as written); {} keeps everything."""
    if policy in (None, ""):
        return {}
    if not isinstance(policy, dict):
        raise PolicyError(N_("A retention policy is a set of keep rules (keep_last, keep_within, keep_daily, "
                             "keep_weekly, keep_monthly, keep_yearly)."))
    unknown = sorted(set(policy) - set(RULES))
    if unknown:
        raise PolicyError(N_("Unknown retention rule %(rule)s; the rules are %(rules)s."),
                          params={"rule": unknown[0], "rules": list(RULES)})
    clean = {}
    for rule in COUNT_RULES:
        value = policy.get(rule)
        if value in (None, ""):
            continue
        if isinstance(value, str) and value.strip().lower() == "unlimited":
            value = -1
        try:
            if isinstance(value, bool) or isinstance(value, float):
                raise ValueError
            value = int(value)
        except (TypeError, ValueError):
            raise PolicyError(N_("%(rule)s must be a whole number (or -1 for every period), not %(value)s."),
                              params={"rule": rule, "value": str(value)}) from None
        if value < -1:
            raise PolicyError(N_("%(rule)s must be a whole number (or -1 for every period), not %(value)s."),
                              params={"rule": rule, "value": str(value)})
        if value:
            clean[rule] = value
    if policy.get("keep_within") not in (None, ""):
        clean["keep_within"] = str(parse_duration(policy["keep_within"]))
    return clean


def get_zone(name):
    """A ZoneInfo from a name (None: the server's TIME_ZONE)."""
    if isinstance(name, dt_timezone) or hasattr(name, "utcoffset"):
        return name
    if not name:
        from django.conf import settings

        name = getattr(settings, "TIME_ZONE", None) or "UTC"
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError(N_("%(zone)s is not a time zone name (such as Europe/Paris or UTC)."),
                          params={"zone": str(name)}) from None


@dataclass(slots=True)
class Candidate:
    """One backup as the planner sees it."""

    id: str
    created_at: datetime  # aware
    pinned: bool = False
    in_use: bool = False
    newest_verified: bool = False


@dataclass(slots=True)
class Decision:
    id: str
    created_at: datetime
    keep: bool
    reasons: list = field(default_factory=list)  # Messages (a shared tuple for the deleted ones)

    def reason_texts(self) -> list[str]:
        return [m.render() for m in self.reasons]

    def as_dict(self) -> dict:
        return {"id": self.id, "created_at": self.created_at.isoformat(), "keep": self.keep,
                "action": "keep" if self.keep else "delete", "reasons": self.reason_texts()}


def _periods(tz):
    def day(t):
        return f"{t.year:04d}-{t.month:02d}-{t.day:02d}"

    def week(t):
        year, number, _ = t.isocalendar()
        return f"{year:04d}-W{number:02d}"

    def month(t):
        return f"{t.year:04d}-{t.month:02d}"

    def year(t):
        return f"{t.year:04d}"

    return {"keep_daily": day, "keep_weekly": week, "keep_monthly": month, "keep_yearly": year}


def plan(backups, policy, tz=None, now=None) -> list[Decision]:
    """Decide, newest first, keep or delete for each of ``backups``
    (Candidates, or tuples in Candidate's field order)."""
    policy = clean_policy(policy)
    tz = get_zone(tz)
    now = now or datetime.now(dt_timezone.utc)
    rows = [b if isinstance(b, Candidate) else Candidate(*b) for b in backups]
    rows.sort(key=lambda b: (b.created_at, b.id), reverse=True)
    decisions = []
    if not rows:
        return decisions
    # One Message per distinct reason, shared by the decisions that give it:
    # 100,000 decisions must not hold 100,000 copies of "no rule keeps it".
    cache = {}

    def message(template, value=None):
        key = (template, value)
        found = cache.get(key)
        if found is None:
            found = cache[key] = Message(template, None if value is None else {"value": value})
        return found

    if not policy:
        for b in rows:
            decisions.append(Decision(b.id, b.created_at, True, _protections(b, message) or [message(EMPTY_POLICY)]))
        return decisions

    # keep_within counts back from the newest backup that is not in the future.
    within = policy.get("keep_within")
    threshold = None
    if within:
        past = [b.created_at for b in rows if b.created_at < now]
        if past:
            threshold = parse_duration(within).before(max(past), tz)
    periods = _periods(tz)
    # [rule, count left (-1: every period), last period seen, period function]
    buckets = [[rule, policy[rule], None, periods.get(rule)] for rule in COUNT_RULES if policy.get(rule)]
    last_index = len(rows) - 1
    dropped = (message(NO_RULE),)  # shared by every decision to delete (never changed)
    for index, b in enumerate(rows):
        reasons = _protections(b, message)
        if threshold is not None and b.created_at > threshold:
            reasons.append(message(REASONS["keep_within"], within))
        local = b.created_at.astimezone(tz) if buckets else None
        for bucket in buckets:
            rule, count, last, period = bucket
            if not count:
                continue
            value = period(local) if period else index
            oldest = index == last_index
            if value != last or oldest:
                bucket[2] = value
                if count > 0:
                    bucket[1] = count - 1
                if rule == "keep_last":
                    reasons.append(message(REASONS[rule], policy[rule]))
                elif value != last:
                    reasons.append(message(REASONS[rule], value))
                else:
                    reasons.append(message(OLDEST_REASONS[rule], value))
        if reasons:
            decisions.append(Decision(b.id, b.created_at, True, reasons))
        else:
            decisions.append(Decision(b.id, b.created_at, False, dropped))
    return decisions


def _protections(b: Candidate, message) -> list:
    reasons = []
    if b.pinned:
        reasons.append(message(PINNED))
    if b.in_use:
        reasons.append(message(IN_USE))
    if b.newest_verified:
        reasons.append(message(NEWEST_VERIFIED))
    return reasons


def describe(policy) -> str:
    """The policy as the CLI options that set it ("--keep-daily 7 --keep-within 30d")."""
    policy = clean_policy(policy)
    if not policy:
        return ""
    order = ("keep_last", "keep_within", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")
    return " ".join(f"--{rule.replace('_', '-')} {policy[rule]}" for rule in order if rule in policy)


__all__ = ["Candidate", "Decision", "Duration", "PolicyError", "clean_policy", "describe", "get_zone",
           "parse_duration", "plan"]
