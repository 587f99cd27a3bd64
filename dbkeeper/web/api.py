"""dbkeeper's JSON API for staff: start a restore, list and cancel operations,
get a new progress token, manage targets, dismiss notifications."""

import json
import logging

from django.http import JsonResponse
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from .. import targets
from ..access import permissions
from ..errors import DbkeeperError
from ..notifications import service as notifications
from ..operations import service
from ..operations.models import Operation
from ..operations.prerestore import restore_space_for
from ..targets import configured_targets
from ..targets import service as target_service
from .decorators import json_api
from .serializers import summary_of

log = logging.getLogger(__name__)

OPERATIONS_LISTED = 50


def _payload(request) -> dict:
    """The request's fields, from a JSON body or a form."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            raise DbkeeperError(_("The request body is not valid JSON."), code="bad_request") from None
        if not isinstance(data, dict):
            raise DbkeeperError(_("The request body must be a JSON object."), code="bad_request")
        return data
    return request.POST.dict()


def _field(data, name) -> str:
    return str(data.get(name) or "").strip()


def _flag(data, name) -> bool:
    """A yes/no field: JSON true/false, or a form's "1"/"on"/"true" (absent: no)."""
    value = data.get(name)
    if value in (None, "", False, True):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise DbkeeperError(_("The field %(name)s must be true or false.") % {"name": name}, code="bad_request")


def _urls(operation):
    return {
        "status_url": reverse("dbkeeper:operation_status", args=[operation.id]),
        "progress_url": reverse("dbkeeper:progress", args=[operation.id]),
        "cancel_url": reverse("dbkeeper:api_cancel", args=[operation.id]),
    }


@json_api("POST")
def start_restore(request, credential):
    """Start a restore of a stored backup into a configured target (the
    service checks it, records it, creates its token and only then queues it)."""
    data = _payload(request)
    started = service.start_restore(
        target=_field(data, "target"), backup_id=_field(data, "backup_id"), confirm=_field(data, "confirm"),
        user=credential.user, language=get_language(), token=True, named_only=True,
        apply_roles=_flag(data, "apply_roles"),
    )
    operation = started.operation
    log.info("restore %s started by %s via %s: backup %s into %s", operation.id, credential.username,
             credential.method, operation.backup_id, operation.target_spec)
    return JsonResponse(
        {"id": operation.id, "kind": operation.kind, "status": operation.status, "token": started.token,
         **_urls(operation)},
        status=202,
    )


def operation_rows(user, active_only=False) -> list[dict]:
    """The operations ``user`` may see (their own on targets they may see;
    everyone's for a superuser), newest first."""
    rows = service.visible_operations(user)
    if active_only:
        rows = rows.filter(status__in=Operation.ACTIVE)
    return [
        {**summary_of(op, user), **_urls(op)}
        for op in rows[:OPERATIONS_LISTED]
    ]


@json_api("GET")
def list_operations(request, credential):
    return JsonResponse({"operations": operation_rows(credential.user, request.GET.get("active") == "1")})


@json_api("POST")
def cancel_operation(request, credential, operation_id):
    operation = service.cancel_operation(operation_id, user=credential.user, by=credential.username)
    log.info("operation %s: cancel requested by %s", operation.id, credential.username)
    return JsonResponse(summary_of(operation, credential.user))


@json_api("POST")
def new_token(request, credential, operation_id):
    """A fresh progress token for the user's own operation (a progress view
    opened again from the operations page)."""
    operation, token = service.progress_token(operation_id, credential.user)
    return JsonResponse({"id": operation.id, "token": token, **_urls(operation)}, status=201)


def target_list(user=None, perm="view"):
    """The configured targets ``user`` has ``perm`` on (None: all of them)."""
    rows = []
    names = sorted(configured_targets())
    if user is not None:
        names = permissions.visible_targets(user, names, perm)
    for name in names:
        try:
            target = targets.resolve(name)  # by name: a saved password is decrypted (or its key is missing)
            rows.append({"name": name, "display": target.display(), "kind": target.kind, "database": target.name,
                         "trust": getattr(target, "trust", "")})
        except DbkeeperError as exc:
            rows.append({"name": name, "display": "", "kind": "", "database": "", "error": exc.render()})
    return rows


@json_api("GET", "POST")
def targets_api(request, credential):
    if request.method == "GET":
        permissions.require_anywhere(credential.user, "view")
        return JsonResponse({"targets": target_list(credential.user)})
    data = _payload(request)
    # Full trust runs the backups' SQL with the target's own rights: only when asked for explicitly.
    trust = "superuser" if data.get("trust_superuser") is True else ""
    # "check": false adds a target without connecting first (a server that is down for now).
    check = data.get("check", True)
    if isinstance(check, str):  # a form sends text
        check = {"true": True, "false": False}.get(check.lower(), check)
    if not isinstance(check, bool):
        raise DbkeeperError(_("The field check must be true or false."), code="bad_request")
    target = target_service.add_target(data.get("name"), data.get("url"), user=credential.user, trust=trust,
                                       check=check)
    log.info("target %s added by %s%s", target["name"], credential.username,
             " (trusting its backups fully)" if trust else "")
    return JsonResponse(target, status=201)


@json_api("GET")
def target_plan(request, credential, name):
    """What restoring stored backup ``?backup=ID`` into target NAME would do
    about the roles, extensions and privileged objects it needs (reads the
    server, changes nothing)."""
    rows = service.restore_needs(name, request.GET.get("backup"), user=credential.user)
    space = restore_space_for(name, request.GET.get("backup"))
    return JsonResponse({"plan": [{"object": subject.render(), "action": action.render()} for subject, action in rows],
                         "space": space.as_dict()})


@json_api("POST")
def read_notifications(request, credential):
    """Mark the user's notifications as read: one (``id``) or those of one operation (``operation``)."""
    data = _payload(request)
    count = notifications.mark_read(credential.user_id, notification_id=data.get("id"), operation_id=data.get("operation"))
    return JsonResponse({"read": count})


AUDIT_API_PAGE_SIZE = 100
AUDIT_API_MAX_PAGE_SIZE = 1000


@json_api("GET")
def audit_api(request, credential):
    """The audit log for superusers: ``?page=N&page_size=M`` (newest first) and
    the filters since, until, action, username, outcome, target, operation;
    ``?format=jsonl`` or ``csv`` exports every matching row (oldest first)."""
    from django.http import StreamingHttpResponse

    from ..audit import query
    from ..audit.service import record

    if not credential.user.is_superuser:
        raise DbkeeperError(_("Only superusers may read the audit log."), code="forbidden")
    filters = {name: request.GET.get(name, "") for name in query.FILTERS}
    rows = query.filtered(since=query.parse_since(request.GET.get("since")),
                          until=query.parse_since(request.GET.get("until"), "until"), **filters)
    fmt = request.GET.get("format", "")
    if fmt in ("jsonl", "csv"):
        record("audit.export", user=credential.user, outcome="ok",
               details={"format": fmt, **{k: v for k, v in request.GET.items() if k != "format"}})
        lines = query.jsonl(rows) if fmt == "jsonl" else query.csv_lines(rows)
        response = StreamingHttpResponse(lines, content_type="application/jsonl" if fmt == "jsonl" else "text/csv")
        response["Content-Disposition"] = f'attachment; filename="dbkeeper-audit.{fmt}"'
        return response
    try:
        page = max(1, int(request.GET.get("page") or 1))
        size = min(AUDIT_API_MAX_PAGE_SIZE, max(1, int(request.GET.get("page_size") or AUDIT_API_PAGE_SIZE)))
    except ValueError:
        raise DbkeeperError(_("page and page_size are whole numbers."), code="bad_request") from None
    total = rows.count()
    chunk = rows.order_by("-number")[(page - 1) * size: page * size]
    return JsonResponse({
        "count": total, "page": page, "page_size": size, "pages": (total + size - 1) // size,
        "next": page + 1 if page * size < total else None,
        "entries": [query.as_dict(entry) for entry in chunk],
    })
