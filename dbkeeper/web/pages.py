"""The pages: sign-in, the restore page, a restore's progress view, and the
operations list. The pages are thin: the JavaScript talks to the JSON API."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from ..access.auth import can_restore, can_see
from ..backups.models import Backup
from ..notifications.models import Notification
from ..operations.models import Operation
from .api import operation_rows, target_list
from .decorators import staff_page
from .strings import format_name, js_strings
from .templatetags.dbkeeper_pages import target_name


def _common(request):
    """What every page shows: the API addresses for the scripts and the
    notifications waiting for this user."""
    waiting = list(
        Notification.objects.filter(user_id=str(request.user.pk), read_at__isnull=True)
        .exclude(outcome="").select_related("operation")[:10]
    ) if request.user.is_authenticated else []
    return {
        "notifications": waiting,
        "strings": js_strings(),
        "urls": {
            "restores": reverse("dbkeeper:api_restores"),
            "operations_api": reverse("dbkeeper:api_operations"),
            "operations": reverse("dbkeeper:operations"),
            "targets": reverse("dbkeeper:api_targets"),
            "notifications_read": reverse("dbkeeper:api_notifications_read"),
            "restore": reverse("dbkeeper:restore"),
            "login": reverse("dbkeeper:login"),
            "uploads": _uploads_url(),
        },
    }


def _uploads_url():
    from django.urls import NoReverseMatch

    try:
        return reverse("dbkeeper:tus")
    except NoReverseMatch:
        return ""


def _backups():
    return [
        {
            "id": b.id, "name": b.name, "size": b.size, "format": b.format,
            "format_label": format_name(b.format, b.format_label),
            "info": b.info, "created_at": b.created_at.isoformat(), "username": b.username,
        }
        for b in Backup.objects.all()[:200]
    ]


@staff_page
def restore_page(request):
    context = _common(request)
    context.update(targets=target_list(), backups=_backups(), can_add_targets=request.user.is_superuser)
    return render(request, "dbkeeper/restore.html", context)


@login_not_required
@never_cache
def progress_page(request, operation_id):
    """Opens without a session too: a reload after the session expired must
    resume tracking with the token the tab holds (the page's script reads it
    from sessionStorage). Without a session the page names nothing; the
    status endpoint decides what the visitor may read."""
    operation_json = {
        "id": operation_id,
        "status_url": reverse("dbkeeper:operation_status", args=[operation_id]),
        "token_url": reverse("dbkeeper:api_operation_token", args=[operation_id]),
        "own": False, "source_name": "", "target": "", "format": "", "cancel_url": "",
    }
    if not request.user.is_authenticated:
        context = {"strings": js_strings(), "urls": _common(request)["urls"], "operation": None}
    else:
        if not can_restore(request.user):
            return render(request, "dbkeeper/forbidden.html", status=403)
        operation = get_object_or_404(Operation, pk=operation_id)
        if not can_see(request.user, operation):
            return render(request, "dbkeeper/forbidden.html", status=403)
        context = _common(request)
        context["operation"] = operation
        operation_json.update(own=operation.user_id == str(request.user.pk), source_name=operation.source_name,
                              target=target_name(operation), format=operation.backup_format,
                              cancel_url=reverse("dbkeeper:api_cancel", args=[operation.id]))
        context["target_name"] = target_name(operation)
    context["operation_json"] = operation_json
    return render(request, "dbkeeper/progress.html", context)


@staff_page
def operations_page(request):
    context = _common(request)
    context["initial"] = operation_rows(request.user)
    return render(request, "dbkeeper/operations.html", context)


class LoginView(auth_views.LoginView):
    template_name = "dbkeeper/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["strings"] = js_strings()
        return context


def forbidden(request):
    return render(request, "dbkeeper/forbidden.html", status=403)
