"""The backups API for staff: list the catalog, start a backup. Each view
parses the request, calls one service function and answers JSON."""

import logging
from datetime import datetime, time

from django.http import JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from ..backups import manage, service, verification
from ..backups.catalog import listed
from ..errors import DbkeeperError
from .api import _field, _payload
from .decorators import json_api

log = logging.getLogger(__name__)

BACKUPS_LISTED = 200


def _since(text):
    """An ISO date or date-time; a date means its start, in the server's time zone."""
    if not text:
        return None
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise DbkeeperError(_("since must be a date (2026-11-30) or a date and time (2026-11-30T08:00:00Z)."),
                                code="bad_request")
        moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _flag(data, name) -> bool:
    return str(data.get(name) or "").strip().lower() in ("1", "true", "yes", "on")


@json_api("GET", "POST")
def backups(request, credential):
    if request.method == "GET":
        rows = listed(target=request.GET.get("target", "").strip(), origin=request.GET.get("origin", "").strip(),
                      since=_since(request.GET.get("since", "").strip()), limit=BACKUPS_LISTED, user=credential.user)
        return JsonResponse({"backups": [row.as_dict() for row in rows]})
    data = _payload(request)
    compress = _field(data, "compress")
    started = service.start_backup(
        _field(data, "target"), format=_field(data, "format") or None, storage=_field(data, "storage") or None,
        compress=compress if compress else None, roles=_flag(data, "roles"), user=credential.user,
        language=get_language(), token=True, origin="manual", named_only=True,
    )
    operation = started.operation
    log.info("backup %s started by %s via %s: %s", operation.id, credential.username, credential.method,
             operation.target_spec)
    return JsonResponse(
        {"id": operation.id, "kind": operation.kind, "status": operation.status, "token": started.token,
         "backup_id": operation.backup_id,
         "status_url": reverse("dbkeeper:operation_status", args=[operation.id]),
         "progress_url": reverse("dbkeeper:progress", args=[operation.id])},
        status=202,
    )


def _started(started):
    operation = started.operation
    return JsonResponse(
        {"id": operation.id, "kind": operation.kind, "status": operation.status, "token": started.token,
         "backup_id": operation.backup_id,
         "status_url": reverse("dbkeeper:operation_status", args=[operation.id]),
         "progress_url": reverse("dbkeeper:progress", args=[operation.id]),
         "cancel_url": reverse("dbkeeper:api_cancel", args=[operation.id])},
        status=202,
    )


@json_api("POST")
def verify_backup(request, credential, backup_id):
    """Start a verification: 202 with the operation's id, token and status URL."""
    data = _payload(request)
    started = verification.start_verify(backup_id, user=credential.user, language=get_language(), token=True,
                                        target=_field(data, "target"))
    log.info("verification %s of %s started by %s via %s", started.operation.id, backup_id, credential.username,
             credential.method)
    return _started(started)


@json_api("POST")
def pin_backup(request, credential, backup_id):
    """Pin (``{"pinned": true}``, the default) or unpin a backup."""
    data = _payload(request)
    pinned = _flag(data, "pinned") if "pinned" in data else True
    backup = manage.set_pinned(backup_id, pinned, user=credential.user)
    log.info("backup %s %s by %s", backup.id, "pinned" if pinned else "unpinned", credential.username)
    return JsonResponse(backup.as_dict())


@json_api("GET", "DELETE", "POST")
def delete_backup(request, credential, backup_id):
    """GET: the catalog entry. DELETE (or POST …/delete/): delete it, with the
    backup's id typed as ``confirm`` (JSON body, form, or ?confirm=)."""
    if request.method == "GET":
        return JsonResponse(manage.visible(backup_id, user=credential.user).as_dict())
    data = _payload(request) if request.method == "POST" or request.body else {}
    confirm = _field(data, "confirm") or request.GET.get("confirm", "")
    backup = manage.delete_backup(backup_id, confirm, user=credential.user)
    log.info("backup %s deleted by %s via %s", backup.id, credential.username, credential.method)
    return JsonResponse({"id": backup.id, "deleted": True})
