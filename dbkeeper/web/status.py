"""``GET {mount}/restore-progress/<id>/status/``: the progress of one operation.

Who may read it is decided in ``access.status_access``; this view answers in
JSON, never a redirect; reading it never writes the login session (so polling
does not keep a session alive); each request writes one log line, which names
a token only by the prefix of its hash.

A poll is cheap when nothing changed: the answer carries an ETag made of what
the JSON depends on (operation, its last write, its latest event, the reader's
language), and a request whose If-None-Match holds it gets 304 without a
body. A changed state is serialized once per process and the bytes reused by
every poller of the same operation and language until the next write."""

import functools
import hashlib
import json
import logging
import threading
import time

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, HttpResponseNotModified
from django.utils.cache import add_never_cache_headers
from django.utils.http import http_date, parse_etags
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from ..access import status_access
from ..access.http import json_error
from ..access.middleware import mark_json
from .decorators import refusal_response
from .serializers import status_of

log = logging.getLogger(__name__)


NEVER_CACHED = "max-age=0, no-cache, no-store, must-revalidate, private"


def never_cached(view):
    """Django's never_cache, with the same headers, set directly: this view
    answers every poll of every open progress page, and the decorator parses
    and merges Cache-Control twice per answer."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if "Cache-Control" in response or "Expires" in response:
            add_never_cache_headers(response)  # merge with what is there, as never_cache does
        else:
            response["Expires"] = http_date(time.time())
            response["Cache-Control"] = NEVER_CACHED
        return response

    return wrapper


@login_not_required
@never_cached
def operation_status(request, operation_id):
    mark_json(request)
    started = time.monotonic()
    decision = status_access.StatusDecision()
    try:
        decision = status_access.decide(request, operation_id)
        if decision.method != status_access.Method.NONE:
            request.dbkeeper_auth_method = decision.method
        if decision.refusal is not None:
            response = refusal_response(decision.refusal)
        else:
            response = answer(request, decision.operation, decision.last_event_id)
    except Exception:
        log.exception("status request for %s failed", operation_id)
        response = json_error(500, "internal_error", _("The server could not read the progress; it will be tried again."))
    log.info(
        "status op=%s auth=%s user=%s token=%s code=%s ms=%.1f",
        operation_id, decision.method, decision.user, decision.token_prefix, response.status_code,
        (time.monotonic() - started) * 1000,
    )
    return response


# ETag -> the serialized JSON of that state; small, since only the latest
# state of each watched operation is asked for.
_bodies = {}
_bodies_lock = threading.Lock()
BODIES_CACHE_SIZE = 256


def answer(request, operation, last_event_id):
    if last_event_id is None:  # a session's poll: the token's query did not read it
        last_event_id = latest_event_id(operation)
    etag = etag_of(operation, last_event_id)
    if etag_matches(request.headers.get("If-None-Match", ""), etag):
        response = HttpResponseNotModified()
    else:
        body = _bodies.get(etag)
        if body is None:
            body = json.dumps(status_of(operation, last_event_id=last_event_id)).encode()
            with _bodies_lock:
                if len(_bodies) >= BODIES_CACHE_SIZE:
                    _bodies.clear()
                _bodies[etag] = body
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    return response


def etag_of(operation, last_event_id) -> str:
    """What the status JSON depends on: every write of the operation moves
    ``updated_at``; events, and the reader's language, are the rest."""
    updated = operation.updated_at.isoformat() if operation.updated_at else ""
    key = f"{operation.pk}|{updated}|{operation.status}|{last_event_id}|{get_language()}"
    return '"' + hashlib.blake2b(key.encode(), digest_size=12).hexdigest() + '"'


def etag_matches(header, etag) -> bool:
    if not header:
        return False
    # A proxy that compresses may weaken it (W/"…"): the content is still the same.
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in parse_etags(header))


def latest_event_id(operation):
    from ..operations.models import Event

    # 0 for none, as the token's query says it: the same state has the same ETag either way.
    return Event.objects.filter(operation_id=operation.pk).order_by("-id").values_list("id", flat=True).first() or 0
