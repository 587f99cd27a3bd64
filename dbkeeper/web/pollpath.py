"""The lean path of a progress poll: the first middleware of the standalone
server (``dbkeeper.web.pollpath.LeanPollMiddleware``), usable by a host
project too, as the first entry of its MIDDLEWARE.

Hundreds of open progress pages each ask for the status once a second, while
a restore needs the same processor. A poll that carries a working operation
token (``X-Temp-Token``, no query string) needs no session, user, CSRF
check, messages or URL resolver: this middleware checks the token, then
answers through the status view and only the middleware that shape a
response (security headers, language, frame and content policies), exactly
as the full path would. Anything else, a token that does not work included,
takes the full path, which says why.

The lean path is on only when every other middleware is one it knows: either
one it may skip for a token poll or one that only adds headers; with any
other (a host project's own), every request takes the full path."""

import logging

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.exception import convert_exception_to_response
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils.module_loading import import_string

from ..access import operation_tokens as tokens
from ..access.auth import TOKEN_HEADER
from ..access.status_access import CHECKED_ATTR
from . import status

log = logging.getLogger(__name__)

# Not needed to answer a token poll (they deal with sessions, users, forms, messages, audit context).
SKIPPED = {
    "django.contrib.sessions.middleware.SessionMiddleware",
    "dbkeeper.access.middleware.SessionGuardMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "dbkeeper.audit.context.AuditContextMiddleware",
}
# Run on the lean path too: they shape the response (headers, language) and need nothing the skipped ones set.
KEPT = {
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "dbkeeper.access.csp.ContentSecurityPolicyMiddleware",
}
ID_MARK = "0dbkeeper0id0"


class LeanPollMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        middleware = [m for m in settings.MIDDLEWARE if m != f"{__name__}.{type(self).__name__}"]
        unknown = [m for m in middleware if m not in SKIPPED | KEPT]
        if unknown:
            log.info("progress polls take the full path: middleware %s may need it", ", ".join(unknown))
            raise MiddlewareNotUsed
        handler = convert_exception_to_response(self._answer)
        for path in reversed([m for m in middleware if m in KEPT]):
            handler = convert_exception_to_response(import_string(path)(handler))
        self.lean = handler
        self._routes = {}  # script prefix -> (start, end) of the status address around the operation id

    def __call__(self, request):
        operation_id = self._operation_id(request)
        raw = request.META.get("HTTP_" + TOKEN_HEADER.upper().replace("-", "_"), "").strip()
        if operation_id is None or not raw or request.META.get("QUERY_STRING"):
            return self.get_response(request)
        check = tokens.verify(raw, operation_id)
        if not check.ok:
            return self.get_response(request)  # the full path explains (and may accept a session instead)
        setattr(request, CHECKED_ATTR, (raw, operation_id, check))
        request.dbkeeper_operation_id = operation_id
        return self.lean(request)

    @staticmethod
    def _answer(request):
        return status.operation_status(request, request.dbkeeper_operation_id)

    def _operation_id(self, request):
        if request.method != "GET":
            return None
        prefix = get_script_prefix()
        route = self._routes.get(prefix)
        if route is None:
            try:
                start, _, end = reverse("dbkeeper:operation_status", args=[ID_MARK]).partition(ID_MARK)
            except NoReverseMatch:
                start, end = "", None
            route = self._routes[prefix] = (start, end)
        start, end = route
        path = request.path
        if end is None or not path.startswith(start) or not path.endswith(end) or len(path) <= len(start) + len(end):
            return None
        operation_id = path[len(start):len(path) - len(end)]
        return None if "/" in operation_id else operation_id
