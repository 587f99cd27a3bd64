"""Operations as JSON, in the reader's language."""

from django.utils.translation import get_language

from ..messages import render_stored
from ..operations.models import Event, Operation
from ..operations.wordings import key_of

LATEST_EVENTS = 20


def _iso(value):
    return value.isoformat() if value else None


def events_of(operation: Operation, limit=LATEST_EVENTS) -> list[dict]:
    """The latest ``limit`` events, oldest first."""
    rows = list(Event.objects.filter(operation_id=operation.pk).order_by("-at", "-id")[:limit])
    rows.reverse()
    return [
        {"at": _iso(e.at), "level": e.level, "code": e.code, "message": e.rendered()}
        for e in rows
    ]


def _localized_result(result: dict) -> dict:
    """The worker's result, with its sentences and labels in the reader's language."""
    result = dict(result)
    # The ending sentence is stored as Message data (older records: English text).
    message = result.get("message")
    if isinstance(message, dict):
        result["message"] = render_stored(message)
    elif isinstance(message, str):
        result["message"] = render_stored(None, message)
    # Format labels are fixed phrases, marked where the engines name them.
    if isinstance(result.get("format_label"), str):
        result["format_label"] = render_stored(None, result["format_label"])
    return result


# Latest events by (operation, id of its newest event, language): a poll whose
# operation has no new event reuses them. The key comes from the database on
# every poll, so nothing here can be older than what the database says.
_events_cache = {}
EVENTS_CACHE_SIZE = 512


def latest_events(operation: Operation, last_event_id) -> list[dict]:
    key = (operation.pk, last_event_id, get_language())
    events = _events_cache.get(key)
    if events is None:
        events = events_of(operation)
        if len(_events_cache) >= EVENTS_CACHE_SIZE:
            _events_cache.clear()
        _events_cache[key] = events
    return events


def status_of(operation: Operation, events=True, last_event_id=None) -> dict:
    """The fields of the status API (and nothing that names a password)."""
    error = None
    if operation.error_code or operation.error_message:
        error = {"code": operation.error_code or "error", "message": operation.rendered_error()}
    return {
        "id": operation.id,
        "kind": operation.kind,
        # Its row in operations/wordings.py ("create": a restore into a new database).
        "wording": key_of(operation.kind, operation.database),
        "status": operation.status,
        "stage": operation.stage,
        "percent": round(operation.percent, 2),
        "done": operation.done,
        "total": operation.total,
        "unit": operation.unit,
        "message": operation.rendered_message(),
        "eta_seconds": operation.eta_seconds,
        "started_at": _iso(operation.started_at),
        "updated_at": _iso(operation.updated_at),
        # Derived from the status, which never leaves a final state: once true, always true.
        "finished": operation.finished,
        "result": _localized_result(operation.result or {}),
        "error": error,
        "events": (latest_events(operation, last_event_id) if last_event_id is not None else events_of(operation)) if events else [],
    }


def summary_of(operation: Operation, user=None) -> dict:
    """A row of the operations list: the status plus what and who."""
    from ..operations.service import may_cancel

    data = status_of(operation, events=False)
    data["events"] = events_of(operation, limit=5)
    data.update(
        source_name=operation.source_name,
        target=operation.target_display,
        username=operation.username,
        created_at=_iso(operation.created_at),
        finished_at=_iso(operation.finished_at),
        can_cancel=bool(user is not None and may_cancel(user, operation)),
    )
    return data
