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
            N_("A cron expression has five fields (minute hour day-of-month month day-of-week); %(expr)s has "
               "%(count)s."), code="invalid_cron", params={"expr": " ".join(fields), "count": len(fields)})
    normal = " ".join(fields)
    try:
        _parsed(normal)
    except (CroniterError, ValueError, KeyError) as exc:
        raise CronError(N_("The cron expression %(expr)s is not valid: %(reason)s"), code="invalid_cron",
                        params={"expr": normal, "reason": str(exc)}) from None
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


def _parsed(expr: str):
    return croniter(expr, datetime(2000, 1, 1))


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


def slots_from(expr: str, tz: ZoneInfo, after_local: datetime, after_due: datetime | None = None):
    """(slot, due_at UTC) in order, for the slots after naive local time
    ``after_local`` whose due time is later than ``after_due`` (and than the
    previous one yielded: slots moved onto the same minute by a gap run once)."""
    last = after_due
    for local in croniter(expr, after_local).all_next(datetime):
        due = due_at(local, tz)
        if last is not None and due <= last:
            continue
        last = due
        yield slot_key(local), due


def first_after(expr: str, tz: ZoneInfo, instant: datetime):
    """The first (slot, due_at) whose due time is after the aware ``instant``."""
    local = instant.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)
    # Start before it: a slot skipped by a gap just before ``instant`` may still be due after it.
    return next(slots_from(expr, tz, local - timedelta(hours=3), after_due=instant))


def next_times(expr: str, tz_name: str, instant: datetime, count: int = 5) -> list:
    """The next ``count`` run times after ``instant`` as aware datetimes in the schedule's zone."""
    expr = check_cron(expr)
    tz = check_zone(tz_name)
    local = instant.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)
    out = []
    for _slot, due in slots_from(expr, tz, local - timedelta(hours=3), after_due=instant):
        out.append(due.astimezone(tz))
        if len(out) >= count:
            break
    return out
