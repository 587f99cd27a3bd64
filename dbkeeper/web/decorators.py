"""How dbkeeper's views check who is asking. Pages send an anonymous visitor
to the login page; JSON endpoints never redirect: they answer 401/403 in JSON."""

import logging
from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from ..access.auth import Method, Refusal, can_restore, not_signed_in, not_staff, user_credential
from ..access.http import json_error, unauthorized
from ..access.middleware import mark_json
from ..errors import DbkeeperError

log = logging.getLogger(__name__)

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def app_page(view=None, *, perm=None):
    """A page for a signed-in user who holds a dbkeeper permission (``perm``
    on at least one target, or any permission when ``perm`` is None); others
    get the forbidden page. A PermissionRefused raised by the view does too."""
    from ..access.permissions import PermissionRefused, has_perm_anywhere

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            allowed = has_perm_anywhere(request.user, perm) if perm else can_restore(request.user)
            if not allowed:
                return render(request, "dbkeeper/forbidden.html", status=403)
            try:
                return view(request, *args, **kwargs)
            except PermissionRefused as exc:
                return render(request, "dbkeeper/forbidden.html", {"refusal": exc.render()}, status=403)

        return never_cache(wrapper)

    return decorate(view) if view is not None else decorate


# The name the pages used before permissions: any permission opens the page.
staff_page = app_page


def refusal_response(refusal: Refusal):
    """A refusal decided by ``access`` as JSON, its sentence in the request's language."""
    if refusal.status == 401:
        return unauthorized(refusal.sentence.render(), code=refusal.code, scheme=refusal.scheme or "Session")
    return json_error(refusal.status, refusal.code, refusal.sentence.render())


def session_expired_response(request=None):
    return refusal_response(not_signed_in(request))


def forbidden_response():
    return refusal_response(not_staff())


def csrf_failed(request) -> bool:
    """Django's own CSRF check, run by hand: the views are csrf_exempt so that
    a personal API token works without a CSRF token."""
    checker = CsrfViewMiddleware(lambda r: None)
    if "CSRF_COOKIE" not in request.META:
        checker.process_request(request)
    return checker.process_view(request, None, (), {}) is not None


# The HTTP status of each error code the services raise; any other code is 400.
STATUS_BY_CODE = {
    "forbidden": 403,
    "not_your_operation": 403,
    "backup_missing": 404,
    "not_found": 404,
    "target_busy": 409,
    "schedule_exists": 409,
    "already_finished": 409,
    "queue_down": 503,
}


def error_status(exc: DbkeeperError) -> int:
    return STATUS_BY_CODE.get(exc.code, 400)


def error_response(exc: DbkeeperError):
    """The error as JSON, its sentence in the request's language."""
    return json_error(error_status(exc), exc.code, exc.render())


def json_api(*methods):
    """A JSON endpoint for a signed-in, active user: session (+ CSRF for writes)
    or personal API token. Which permission the action needs is the service's
    to check (access/permissions.py; a refusal is 403 JSON with its sentence).
    The view is called as ``view(request, credential, ...)``."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            mark_json(request)
            if request.method not in methods:
                response = json_error(405, "method_not_allowed", _("This address does not accept %(method)s requests.") % {"method": request.method})
                response["Allow"] = ", ".join(methods)
                return response
            credential = user_credential(request)
            request.dbkeeper_auth_method = credential.method
            if not credential.authenticated:
                return session_expired_response(request)
            if not getattr(credential.user, "is_active", False):
                return forbidden_response()
            if credential.method == Method.SESSION and request.method not in SAFE_METHODS and csrf_failed(request):
                return json_error(403, "csrf_failed", _("This page's security token is missing or out of date. Reload the page and try again."))
            try:
                return view(request, credential, *args, **kwargs)
            except DbkeeperError as exc:
                return error_response(exc)

        return login_not_required(csrf_exempt(never_cache(wrapper)))

    return decorate
