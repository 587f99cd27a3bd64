"""Reading the audit log: the filters the page, the API and ``dbkeeper
audit`` share, one row as a dict, and the two export formats (JSON Lines
and CSV)."""

import csv
import io
import json
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from ..errors import DbkeeperError
from ..messages import N_, render_stored
from .models import AuditEntry

FILTERS = ("action", "username", "outcome", "target", "operation", "address")
COLUMNS = ["number", "at", "action", "username", "user_id", "method", "token_prefix", "address", "user_agent",
           "target", "database", "backup", "operation", "outcome", "sentence", "details", "parent", "hmac"]


def parse_since(text, name="since"):
    """An ISO date or date-time, or an age such as 30m, 12h, 7d."""
    text = str(text or "").strip()
    if not text:
        return None
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if text[:-1].isdigit() and text[-1:] in units:
        return timezone.now() - timedelta(**{units[text[-1]]: int(text[:-1])})
    moment = parse_datetime(text)
    if moment is None and parse_date(text) is not None:
        moment = datetime.combine(parse_date(text), datetime.min.time())
    if moment is None:
        raise DbkeeperError(N_("%(name)s is a date (2026-11-30), a date and time (2026-11-30T08:00) or an age "
                               "(30m, 12h, 7d), not %(text)s."), code="bad_filter",
                            params={"name": name, "text": repr(text)})
    return timezone.make_aware(moment, dt_timezone.utc) if timezone.is_naive(moment) else moment


def filtered(since=None, until=None, **filters):
    rows = AuditEntry.objects.all()
    if since is not None:
        rows = rows.filter(at__gte=since)
    if until is not None:
        rows = rows.filter(at__lt=until)
    for name in FILTERS:
        value = str(filters.get(name) or "").strip()
        if value:
            rows = rows.filter(**({f"{name}__startswith": value} if name == "action" else {name: value}))
    return rows


def as_dict(entry, sentence_text=True) -> dict:
    row = {name: getattr(entry, name) for name in COLUMNS}
    row["at"] = entry.at.isoformat()
    if sentence_text:
        row["sentence_text"] = render_stored(entry.sentence) if entry.sentence else ""
    return row


def jsonl(rows):
    for entry in rows.iterator():
        yield json.dumps(as_dict(entry), ensure_ascii=False, sort_keys=True) + "\n"


def csv_lines(rows):
    columns = COLUMNS + ["sentence_text"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    yield buffer.getvalue()
    for entry in rows.iterator():
        buffer.seek(0)
        buffer.truncate()
        data = as_dict(entry)
        writer.writerow([json.dumps(data[c], ensure_ascii=False, sort_keys=True) if isinstance(data[c], (dict, list))
                         else ("" if data[c] is None else data[c]) for c in columns])
        yield buffer.getvalue()
