"""``GET {mount}/restore-progress/<id>/status/``: the progress of one operation.

Credentials, in order: the operation token in the ``X-Temp-Token`` header,
then a personal API token or the login session. Every answer is JSON, never a
redirect; reading it never writes the login session (so polling does not keep
a session alive); each request writes one log line."""

import logging
import time

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from ..access import auth
from ..access import operation_tokens as tokens
from ..access.http import json_error, unauthorized
from ..access.middleware import mark_json
from ..operations.models import Operation
from .decorators import forbidden_response, session_expired_response
from .serializers import status_of

log = logging.getLogger(__name__)


@login_not_required
@never_cache
def operation_status(request, operation_id):
    mark_json(request)
    started = time.monotonic()
    seen = {"auth": auth.Method.NONE, "user": "-", "token": "-"}
    try:
        response = _answer(request, operation_id, seen)
    except Exception:
        log.exception("status request for %s failed", operation_id)
        response = json_error(500, "internal_error", _("The server could not read the progress; it will be tried again."))
    log.info(
        "status op=%s auth=%s user=%s token=%s code=%s ms=%.1f",
        operation_id, seen["auth"], seen["user"], seen["token"], response.status_code,
        (time.monotonic() - started) * 1000,
    )
    return response


def _answer(request, operation_id, seen):
    leaked = auth.query_tokens(request)
    if leaked:
        # The address is in logs and history now: that token must not work any more.
        for raw in leaked:
            if tokens.revoke_raw(raw, reason="sent_in_url"):
                seen["token"] = tokens.prefix_of(raw)
        return json_error(
            400, "token_in_query",
            _("The operation token must be sent in the X-Temp-Token header, never in the address "
              "(addresses end up in logs and browser history). A token sent that way has been revoked."),
        )

    refused = None
    raw = request.headers.get(auth.TOKEN_HEADER, "").strip()
    if raw:
        check = tokens.verify(raw, operation_id)
        seen["token"] = check.prefix
        if check.ok:
            seen.update(auth=auth.Method.OPERATION_TOKEN, user=check.token.username or check.token.user_id or "-")
            request.dbkeeper_auth_method = auth.Method.OPERATION_TOKEN
            return JsonResponse(status_of(check.token.operation, last_event_id=check.token.last_event_id))
        refused = check

    # No working token: a staff session (or personal API token) may still read it.
    credential = auth.user_credential(request)
    if credential.authenticated:
        seen.update(auth=credential.method, user=credential.username or "-")
        request.dbkeeper_auth_method = credential.method
        if not auth.can_restore(credential.user):
            return forbidden_response()
        operation = Operation.objects.filter(pk=operation_id).first()
        if operation is None:
            return _not_found()
        if not auth.can_see(credential.user, operation):
            return json_error(403, "not_your_operation", _("This restore was started by someone else."))
        return JsonResponse(status_of(operation))

    if refused is None:
        return session_expired_response(request)
    if refused.verdict == tokens.Verdict.OTHER_OPERATION:
        if not Operation.objects.filter(pk=operation_id).exists():
            return _not_found()
        return json_error(403, "token_wrong_operation", _("This token belongs to another restore."))
    if refused.verdict == tokens.Verdict.EXPIRED:
        message = _("The progress token has expired. Sign in again to see how the restore ended.")
    else:
        message = _("The progress token is not valid (it was revoked at sign-out, or never existed). Sign in again to see how the restore ended.")
    return unauthorized(message, code=f"token_{refused.verdict}", scheme="X-Temp-Token")


def _not_found():
    return json_error(404, "not_found", _("There is no operation with this id."))
