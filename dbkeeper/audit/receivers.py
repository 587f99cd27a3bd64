"""Signal receivers that write audit rows (connected in DbkeeperConfig.ready):
sign-in and sign-out from django.contrib.auth, and the end of a long
operation, linked to the row that recorded its start."""

import logging

from ..messages import Message
from .context import client_address
from .service import record, start_row, target_label

log = logging.getLogger(__name__)


def _request_kwargs(request):
    if request is None:
        return {}
    return {"address": client_address(request), "user_agent": (request.META.get("HTTP_USER_AGENT") or "")[:300]}


def on_logged_in(sender, request, user, **kwargs):
    record("signin", user=user, method="session", outcome="ok", **_request_kwargs(request))


def on_logged_out(sender, request, user, **kwargs):
    if user is not None:
        record("signout", user=user, method="session", outcome="ok", **_request_kwargs(request))


def on_operation_finished(sender, operation, **kwargs):
    """The end row of a long operation (restore, backup…), linked to its start row."""
    try:
        start = start_row(operation.id)
        sentence = None
        if operation.error_message:
            sentence = Message(operation.error_message)
        record(f"{operation.kind}.end", username=operation.username, method="system",
               target=target_label(operation.target_spec, operation.target_display),
               database=start.database if start is not None else operation.target_display, backup=operation.backup_id or operation.source_name,
               operation=operation.id, outcome=operation.status, sentence=sentence,
               details={"error_code": operation.error_code} if operation.error_code else None,
               parent=start, user_id=operation.user_id)
    except Exception:
        log.exception("could not write the audit end row of operation %s", operation.id)
