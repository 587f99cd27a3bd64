"""The pages: sign-in, the restore page, a restore's progress view, and the
operations list. The pages are thin: the JavaScript talks to the JSON API."""

import time

from django.contrib.auth import login as auth_login
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from ..access import permissions, signin, twofactor
from ..access.auth import can_restore, can_see
from ..audit import query as audit_query
from ..audit.context import client_address
from ..errors import DbkeeperError
from ..messages import Message, N_, render_stored
from ..backups.models import Backup
from ..notifications.models import Notification
from ..operations.models import Operation
from ..operations.wordings import WORDINGS, key_of, wording_of
from ..operations.wordings import names as wording_names
from .api import operation_rows, target_list
from .decorators import app_page
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
        # The tracker's words until an operation says which it is (operations/wordings.py).
        "wording": WORDINGS["restore"],
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


def _backups(user):
    from ..backups.catalog import listed

    return [
        {
            "id": b.id, "name": b.name, "size": b.size, "format": b.format,
            "format_label": format_name(b.format, b.format_label),
            "info": b.info, "created_at": b.created_at.isoformat(), "username": b.username,
            "has_roles": bool(b.roles_name),
        }
        for b in listed(limit=200, user=user)
    ]


def backup_row(b: Backup) -> dict:
    """A catalog entry as the Backups page's script shows it."""
    return {**b.as_dict(), "format_name": format_name(b.format, b.format_label),
            "download_url": reverse("dbkeeper:api_backup_download", args=[b.id])}


@app_page(perm="view")
def backups_page(request):
    """The catalog with filters (target, origin, date), each backup's details
    and actions, and "Back up now" per target; the script does the rest."""
    from ..backups.catalog import listed
    from .backups_api import BACKUPS_LISTED, _since
    from .retention_views import panel as retention_panel

    context = _common(request)
    filters = {name: request.GET.get(name, "").strip() for name in ("target", "origin", "since")}
    try:
        rows = listed(target=filters["target"], origin=filters["origin"], since=_since(filters["since"]),
                      limit=BACKUPS_LISTED, user=request.user)
    except permissions.PermissionRefused:
        raise
    except DbkeeperError as exc:
        context["filter_error"] = exc.render()
        rows = listed(limit=BACKUPS_LISTED, user=request.user)
    configured = target_list(request.user)
    context.update(filters=filters, targets=configured, initial=[backup_row(b) for b in rows])
    context["retention"] = retention_panel(request.user, filters["target"])
    context["urls"].update(backups_api=reverse("dbkeeper:api_backups"), backups=reverse("dbkeeper:backups"))
    return render(request, "dbkeeper/backups.html", context)


@app_page
def restore_page(request):
    """Restore into the targets the user may restore into; the backups of the targets they may see."""
    context = _common(request)
    context.update(targets=target_list(request.user, "restore"), backups=_backups(request.user),
                   can_add_targets=permissions.has_perm(request.user, "manage_targets"))
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
        "kind": "",  # without a session, the status answer says it
        "wording": "", "database": "",
    }
    if not request.user.is_authenticated:
        context = {"strings": js_strings(), "urls": _common(request)["urls"], "operation": None,
                   "wording": WORDINGS["restore"]}
    else:
        if not can_restore(request.user):
            return render(request, "dbkeeper/forbidden.html", status=403)
        operation = get_object_or_404(Operation, pk=operation_id)
        if not can_see(request.user, operation):
            return render(request, "dbkeeper/forbidden.html", status=403)
        context = _common(request)
        context["operation"] = operation
        operation_json.update(own=operation.user_id == str(request.user.pk), source_name=operation.source_name,
                              kind=operation.kind, wording=key_of(operation.kind, operation.database),
                              database=wording_names(operation)["database"],
                              target=target_name(operation), format=operation.backup_format,
                              cancel_url=reverse("dbkeeper:api_cancel", args=[operation.id]))
        context["target_name"] = target_name(operation)
        context["wording"] = wording_of(operation)
    context["operation_json"] = operation_json
    return render(request, "dbkeeper/progress.html", context)


@app_page
def operations_page(request):
    context = _common(request)
    context["initial"] = operation_rows(request.user)
    return render(request, "dbkeeper/operations.html", context)


class SigninForm(AuthenticationForm):
    """Django's sign-in form, refusing a locked account or address before the
    password is checked, and a superuser without two-factor sign-in when it
    is required. ``refusal`` is the sentence the page shows instead of the
    usual "do not match"."""

    refusal = ""

    def clean(self):
        username = self.cleaned_data.get("username")
        lock = signin.active_lock(username, client_address(self.request))
        if lock is not None:
            signin.refused_while_locked(username, self.request, lock)
            self.refusal = lock.sentence().render()
            raise ValidationError(self.refusal, code="locked")
        try:
            return super().clean()
        except ValidationError:
            lock = signin.active_lock(username, client_address(self.request))
            if lock is not None:  # this failure was the one too many
                self.refusal = lock.sentence().render()
            raise

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if twofactor.required(user) and twofactor.device_for(user) is None:
            self.refusal = Message(N_("Superusers must sign in with a one-time code here, and %(name)s has no "
                                      "authenticator yet: ask an administrator to run 'dbkeeper 2fa enrol %(name)s'."),
                                   {"name": user.get_username()}).render()
            raise ValidationError(self.refusal, code="2fa_required")


PENDING = "dbkeeper_2fa_pending"
PENDING_SECONDS = 300  # the code must follow the password within this time


class LoginView(auth_views.LoginView):
    template_name = "dbkeeper/login.html"
    redirect_authenticated_user = True
    form_class = SigninForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["strings"] = js_strings()
        return context

    def form_valid(self, form):
        user = form.get_user()
        signin.register_success(user.get_username())
        if twofactor.device_for(user) is None:
            return super().form_valid(form)
        # The password was right; the session is opened only after the code.
        self.request.session[PENDING] = {"user_id": str(user.pk), "backend": user.backend, "at": time.time(),
                                         "next": self.get_success_url()}
        return redirect("dbkeeper:login_code")


def _pending_user(request):
    pending = request.session.get(PENDING)
    if not pending or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None, None
    User = get_user_model()
    return User._default_manager.filter(pk=pending["user_id"], is_active=True).first(), pending


@login_not_required
@never_cache
@csrf_protect
@sensitive_post_parameters("code")
def login_code(request):
    """The second step of a sign-in with two-factor: the code of the user's authenticator."""
    user, pending = _pending_user(request)
    if user is None:
        request.session.pop(PENDING, None)
        return redirect("dbkeeper:login")
    context = {"strings": js_strings(), "code_step": True, "pending_username": user.get_username()}
    if request.method == "POST":
        lock = signin.active_lock(user.get_username(), client_address(request))
        device = twofactor.device_for(user)
        if lock is not None:
            signin.refused_while_locked(user.get_username(), request, lock)
            context["refusal"] = lock.sentence().render()
        elif device is not None and twofactor.check_code(device, request.POST.get("code", "")):
            request.session.pop(PENDING, None)
            signin.register_success(user.get_username())
            auth_login(request, user, backend=pending["backend"])
            target = pending.get("next") or reverse("dbkeeper:dashboard")
            if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
                target = reverse("dbkeeper:dashboard")
            return HttpResponseRedirect(target)
        else:
            signin.on_login_failed(sender=__name__, credentials={"username": user.get_username(), "step": "code"},
                                   request=request)
            lock = signin.active_lock(user.get_username(), client_address(request))
            context["refusal"] = lock.sentence().render() if lock else Message(
                N_("That code is not right, or was used already. Enter the current code of your authenticator.")).render()
    return render(request, "dbkeeper/login.html", context)


AUDIT_PAGE_SIZE = 50


@app_page
def audit_page(request):
    """The audit log, newest first, with filters (superusers only)."""
    if not request.user.is_superuser:
        return render(request, "dbkeeper/forbidden.html", status=403)
    context = _common(request)
    filters = {name: request.GET.get(name, "").strip() for name in ("action", "username", "outcome", "target", "since", "until")}
    try:
        rows = audit_query.filtered(since=audit_query.parse_since(filters["since"]),
                                    until=audit_query.parse_since(filters["until"], "until"),
                                    action=filters["action"], username=filters["username"],
                                    outcome=filters["outcome"], target=filters["target"]).order_by("-number")
    except DbkeeperError as exc:
        context["filter_error"] = exc.render()
        rows = audit_query.filtered().order_by("-number")
    page = Paginator(rows, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context.update(
        page=page, filters=filters, query=query.urlencode(),
        entries=[{"entry": e, "sentence": render_stored(e.sentence) if e.sentence else ""} for e in page],
        export_query=query.urlencode(),
    )
    return render(request, "dbkeeper/audit.html", context)


def forbidden(request):
    return render(request, "dbkeeper/forbidden.html", status=403)
