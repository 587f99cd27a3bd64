"""``GET {mount}/restore-progress/<id>/status/``: the progress of one operation.

Who may read it is decided in ``access.status_access``; this view answers in
JSON, never a redirect; reading it never writes the login session (so polling
does not keep a session alive); each request writes one log line, which names
a token only by the prefix of its hash."""

import logging
import time

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from ..access import status_access
from ..access.http import json_error
from ..access.middleware import mark_json
from .decorators import refusal_response
from .serializers import status_of

log = logging.getLogger(__name__)


@login_not_required
@never_cache
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
            response = JsonResponse(status_of(decision.operation, last_event_id=decision.last_event_id))
    except Exception:
        log.exception("status request for %s failed", operation_id)
        response = json_error(500, "internal_error", _("The server could not read the progress; it will be tried again."))
    log.info(
        "status op=%s auth=%s user=%s token=%s code=%s ms=%.1f",
        operation_id, decision.method, decision.user, decision.token_prefix, response.status_code,
        (time.monotonic() - started) * 1000,
    )
    return response
