"""Five-field cron expressions (croniter) read in a schedule's local
wall-clock time, and the slots they give.

A slot is a local wall-clock minute, "YYYY-MM-DDTHH:MM". When it is due (in
UTC) follows the daylight-saving rules of the zone:

- a time that occurs twice when clocks go back is one slot, due at its first
  occurrence;
- a time skipped when clocks go forward is due at the first minute after the
  gap (02:30 on the night clocks jump from 02:00 to 03:00 is due at 03:00);
  several skipped slots falling on that minute run once, under the first.
"""

import threading
from datetime import datetime, timedelta, timezone as dt_timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from ..errors import DbkeeperError
from ..messages import N_

UTC = dt_timezone.utc
SLOT_FORMAT = "%Y-%m-%dT%H:%M"
# Longest stretch of local time a zone ever skipped (Samoa, end of 2011).
LONGEST_GAP_MINUTES = 24 * 60


class CronError(DbkeeperError):
    code = "invalid_schedule"


def check_cron(expr) -> str:
    """``expr`` with its fields separated by single spaces, if it is a valid
    five-field cron expression; else CronError with croniter's reason."""
    fields = str(expr or "").split()
    if not fields:
        raise CronError(N_("Give a cron expression with five fields: minute hour day-of-month month day-of-week."),
                        code="invalid_cron")
    if len(fields) != 5:
        raise CronError(
            N_("A cron expression has five fields (minute hour day-of-month month day-of-week); %(expr)s does "
               "not."), code="invalid_cron", params={"expr": " ".join(fields)})
    normal = " ".join(fields)
    try:
        it = croniter(normal, datetime(2000, 1, 1))
    except (CroniterError, ValueError, KeyError) as exc:
        raise CronError(N_("The cron expression %(expr)s is not valid: %(reason)s"), code="invalid_cron",
                        params={"expr": normal, "reason": str(exc)}) from None
    try:
        it.get_next(datetime)  # a valid expression may still never match (0 0 30 2 *: 30 February)
    except (CroniterError, ValueError):
        raise CronError(N_("The cron expression %(expr)s never matches a date."), code="invalid_cron",
                        params={"expr": normal}) from None
    return normal


def check_zone(name) -> ZoneInfo:
    name = str(name or "").strip()
    try:
        if not name:
            raise ValueError
        return zone(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise CronError(N_("%(zone)s is not a time zone this server knows (for example Europe/Paris or UTC)."),
                        code="invalid_timezone", params={"zone": name}) from None


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def slot_key(local: datetime) -> str:
    return local.strftime(SLOT_FORMAT)


def parse_slot(key: str) -> datetime:
    return datetime.strptime(key, SLOT_FORMAT)


def _exists(local: datetime, tz: ZoneInfo) -> bool:
    aware = local.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local


def due_at(local: datetime, tz: ZoneInfo) -> datetime:
    """When the slot at naive local wall-clock time ``local`` is due, in UTC."""
    if not _exists(local, tz):
        moved = local
        for _ in range(LONGEST_GAP_MINUTES):
            moved += timedelta(minutes=1)
            if _exists(moved, tz):
                local = moved
                break
    # fold=0: of a time that occurs twice, the first.
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


_per_thread = threading.local()
PARSED_KEPT = 4096


def parsed(expr: str, start: datetime):
    """A croniter for ``expr`` (checked) positioned at naive ``start``. Parsing
    costs more than the tick's budget for a thousand schedules, so each thread
    keeps the croniters it parsed (they hold a position: never shared across threads)."""
    kept = getattr(_per_thread, "parsed", None)
    if kept is None:
        kept = _per_thread.parsed = {}
    it = kept.get(expr)
    if it is None:
        if len(kept) >= PARSED_KEPT:
            kept.clear()
        it = kept[expr] = croniter(expr, start)
    else:
        it.set_current(start, force=True)
    return it


def slots_from(expr: str, tz: ZoneInfo, after_local: datetime, after_due: datetime | None = None, it=None):
    """(slot, due_at UTC) in order, for the slots after naive local time
    ``after_local`` whose due time is later than ``after_due`` (and than the
    previous one yielded: slots moved onto the same minute by a gap run once).
    ``it``: a croniter of ``expr`` to reuse (it is moved to ``after_local``)."""
    if it is None:
        it = croniter(expr, after_local)
    else:
        it.set_current(after_local, force=True)
    last = after_due
    while True:
        local = it.get_next(datetime)
        due = due_at(local, tz)
        if last is not None and due <= last:
            continue
        last = due
        yield slot_key(local), due


def first_after(expr: str, tz: ZoneInfo, instant: datetime, it=None):
    """The first (slot, due_at) whose due time is after the aware ``instant``.
    (A slot whose local time is before ``instant``'s is due before it too: a
    skipped time is due at the end of its gap, a repeated one at its first
    occurrence; so the search starts a minute before.)"""
    local = instant.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)
    return next(slots_from(expr, tz, local - timedelta(minutes=1), after_due=instant, it=it))


def next_times(expr: str, tz_name: str, instant: datetime, count: int = 5) -> list:
    """The next ``count`` run times after ``instant`` as aware datetimes in the schedule's zone."""
    expr = check_cron(expr)
    tz = check_zone(tz_name)
    local = instant.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)
    out = []
    for _slot, due in slots_from(expr, tz, local - timedelta(minutes=1), after_due=instant):
        out.append(due.astimezone(tz))
        if len(out) >= count:
            break
    return out
