"""dbkeeper's JSON API for staff: start a restore, list and cancel operations,
get a new progress token, manage targets, dismiss notifications."""

import json
import logging
import re

from django.http import JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from .. import engines, targets
from ..access import operation_tokens as tokens
from ..access.auth import can_see
from ..access.http import json_error
from ..errors import DbkeeperError, TargetError
from ..notifications import delivery
from ..notifications.models import Notification
from ..operations import service
from ..operations.models import Operation, Target
from ..targets import configured_targets
from .decorators import json_api
from .messages import localize
from .serializers import summary_of

log = logging.getLogger(__name__)

TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
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


def _operation_for(credential, operation_id):
    operation = Operation.objects.filter(pk=operation_id).first()
    if operation is None:
        raise DbkeeperError(_("There is no operation with this id."), code="not_found")
    if not can_see(credential.user, operation):
        return None
    return operation


def _urls(operation):
    return {
        "status_url": reverse("dbkeeper:operation_status", args=[operation.id]),
        "progress_url": reverse("dbkeeper:progress", args=[operation.id]),
    }


@json_api("POST")
def start_restore(request, credential):
    """Record the restore, create its token, and only then queue the work, so
    that the token exists before the first progress is written."""
    data = _payload(request)
    backup_id = str(data.get("backup_id") or "").strip()
    target_name = str(data.get("target") or "").strip()
    confirm = str(data.get("confirm") or "").strip()
    if not backup_id:
        raise DbkeeperError(_("Choose a backup to restore."), code="backup_required")
    if not target_name:
        raise DbkeeperError(_("Choose the database to restore into."), code="target_required")
    if target_name not in configured_targets():
        raise TargetError(_("There is no target named %(name)s.") % {"name": target_name}, code="target_unknown")
    if confirm != target_name:
        raise DbkeeperError(
            _("To confirm that %(name)s will be replaced, type its name exactly.") % {"name": target_name},
            code="not_confirmed",
        )
    from ..backups.models import Backup

    backup = Backup.objects.filter(pk=backup_id).first()
    if backup is None:
        raise DbkeeperError(_("There is no stored backup with that id."), code="backup_missing")
    target = targets.resolve(target_name)
    engine = next((e for e in engines.all_engines() if e.format == backup.format), None)
    if engine is not None and target.kind not in engine.target_kinds:
        raise DbkeeperError(
            _("A %(label)s cannot be restored into a %(kind)s database.") % {"label": localize(backup.format_label or backup.format), "kind": target.kind},
            code="wrong_target_kind",
        )

    operation = service.create_restore("", target_name, user=credential.user, backup=backup)
    token = tokens.issue(operation)
    delivery.expect(operation, get_language())
    try:
        service.enqueue(operation)
    except Exception:
        log.exception("could not queue operation %s", operation.id)
        from ..operations.runner import finish

        finish(operation, Operation.Status.FAILED, error=DbkeeperError(
            "The restore could not be queued: the task queue is not reachable. Nothing was changed.", code="queue_down"))
        return json_error(503, "queue_down", _("The restore could not be queued: the task queue is not reachable. Nothing was changed."))
    log.info("restore %s started by %s via %s: backup %s into %s", operation.id, credential.username, credential.method, backup.id, target_name)
    return JsonResponse(
        {"id": operation.id, "kind": operation.kind, "status": operation.status, "token": token, **_urls(operation)},
        status=202,
    )


def operation_rows(user, active_only=False) -> list[dict]:
    """The operations ``user`` may see (their own; everyone's for a superuser), newest first."""
    rows = Operation.objects.all()
    if not user.is_superuser:
        rows = rows.filter(user_id=str(user.pk))
    if active_only:
        rows = rows.filter(status__in=Operation.ACTIVE)
    return [
        {**summary_of(op, user), **_urls(op), "cancel_url": reverse("dbkeeper:api_cancel", args=[op.id])}
        for op in rows[:OPERATIONS_LISTED]
    ]


@json_api("GET")
def list_operations(request, credential):
    return JsonResponse({"operations": operation_rows(credential.user, request.GET.get("active") == "1")})


@json_api("POST")
def cancel_operation(request, credential, operation_id):
    operation = _operation_for(credential, operation_id)
    if operation is None:
        return json_error(403, "not_your_operation", _("This restore was started by someone else."))
    operation = service.cancel(operation, by=credential.username)
    log.info("operation %s: cancel requested by %s", operation.id, credential.username)
    return JsonResponse(summary_of(operation, credential.user))


@json_api("POST")
def new_token(request, credential, operation_id):
    """A fresh progress token for the user's own operation (a progress view
    opened again from the operations page)."""
    operation = _operation_for(credential, operation_id)
    if operation is None or operation.user_id != credential.user_id:
        return json_error(403, "not_your_operation", _("Only the person who started this restore can get a progress token for it."))
    return JsonResponse({"id": operation.id, "token": tokens.issue(operation), **_urls(operation)}, status=201)


def target_list():
    rows = []
    for name, spec in sorted(configured_targets().items()):
        try:
            target = targets.resolve(spec)
            rows.append({"name": name, "display": target.display(), "kind": target.kind, "database": target.name,
                         "trust": getattr(target, "trust", "")})
        except DbkeeperError as exc:
            rows.append({"name": name, "display": "", "kind": "", "database": "", "error": localize(exc.message)})
    return rows


@json_api("GET", "POST")
def targets_api(request, credential):
    if request.method == "GET":
        return JsonResponse({"targets": target_list()})
    if not credential.user.is_superuser:
        return json_error(403, "forbidden", _("Only superusers may add restore targets."))
    data = _payload(request)
    # Full trust runs the backups' SQL with the target's own rights: only when asked for explicitly.
    trust = "superuser" if data.get("trust_superuser") is True else ""
    target = add_target(str(data.get("name") or "").strip(), str(data.get("url") or "").strip(), trust=trust)
    log.info("target %s added by %s%s", target["name"], credential.username,
             " (trusting its backups fully)" if trust else "")
    return JsonResponse(target, status=201)


@json_api("GET")
def target_plan(request, credential, name):
    """What restoring stored backup ``?backup=ID`` into target NAME would do
    about the roles, extensions and privileged objects it needs (reads the
    server, changes nothing)."""
    from ..backups.models import Backup

    if name not in configured_targets():
        raise TargetError(_("There is no target named %(name)s.") % {"name": name}, code="target_unknown")
    backup = Backup.objects.filter(pk=str(request.GET.get("backup") or "")).first()
    if backup is None:
        raise DbkeeperError(_("There is no stored backup with that id."), code="backup_missing")
    target = targets.resolve(name)
    engine = next((e for e in engines.all_engines() if e.format == backup.format), None)
    if target.kind != "postgresql" or engine is None or "postgresql" not in engine.target_kinds:
        return JsonResponse({"plan": []})
    from ..targets.pgneeds import restore_plan

    details = (backup.info or {}).get("details") or {}
    rows = restore_plan(target, details.get("sql") or details)  # an Odoo zip's dump.sql
    return JsonResponse({"plan": [{"object": subject.render(), "action": action.render()} for subject, action in rows]})


def add_target(name, url, trust="", owner="", extensions=()) -> dict:
    """Validate and record a target (the web form and ``dbkeeper target add``)."""
    if not TARGET_NAME.match(name):
        raise TargetError(_("A target name is 1 to 100 letters, digits, dots, dashes or underscores, starting with a letter or digit."), code="bad_target_name")
    if name in configured_targets():
        raise TargetError(_("There is already a target named %(name)s.") % {"name": name}, code="target_exists")
    if "://" not in url:
        raise TargetError(_("Give the target as a database URL: postgresql://user@host:port/name or sqlite:////absolute/path.db"), code="bad_target_url")
    options = {"trust": trust, "owner": owner, "extensions": list(extensions)}
    # raises TargetError with a sentence for a bad URL or option
    target = targets.resolve({"url": url, **options} if any(options.values()) else url)
    Target.objects.create(name=name, url=url, **options)
    return {"name": name, "display": target.display(), "kind": target.kind, "database": target.name,
            "trust": trust}


@json_api("POST")
def read_notifications(request, credential):
    """Mark the user's notifications as read: one (``id``) or those of one operation (``operation``)."""
    data = _payload(request)
    rows = Notification.objects.filter(user_id=credential.user_id, read_at__isnull=True).exclude(outcome="")
    if str(data.get("id") or "").isdigit():
        rows = rows.filter(pk=int(data["id"]))
    elif data.get("operation"):
        rows = rows.filter(operation_id=data["operation"])
    else:
        raise DbkeeperError(_("Say which notification to mark as read."), code="bad_request")
    return JsonResponse({"read": rows.update(read_at=timezone.now())})
