"""The request being served, so that a service deep below the web (token
created, target added, restore started) can record who asked, how, and from
where without every call passing the request down.

``dbkeeper.audit.context.AuditContextMiddleware`` goes in MIDDLEWARE after
AuthenticationMiddleware. Without it rows still name the user, but not the
address, user agent or credential of the request."""

import contextlib
import contextvars

from .. import conf

_request = contextvars.ContextVar("dbkeeper_audit_request", default=None)
# How actions outside a request came: "cli" while a dbkeeper command runs.
_via = contextvars.ContextVar("dbkeeper_audit_via", default="")
# Who a dbkeeper command acts as (``dbkeeper --as USERNAME``): its actions are
# checked against that user's permissions and recorded under their name.
_acting = contextvars.ContextVar("dbkeeper_acting_user", default=None)


def current_request():
    return _request.get()


def current_via() -> str:
    return _via.get()


class _Acting:
    """The acting user, looked up on first use (``resolve`` may raise a DbkeeperError)."""

    def __init__(self, resolve):
        self.resolve, self.done, self.user = resolve, False, None

    def get(self):
        if not self.done:
            self.user, self.done = self.resolve(), True
        return self.user


def acting_user():
    """The user the running command acts as, or None (no command, or no user to act as)."""
    holder = _acting.get()
    return holder.get() if holder is not None else None


@contextlib.contextmanager
def acting_as(user):
    """Inside this block, commands act as ``user`` (a user, None, or a function
    that finds the user when first asked)."""
    holder = _Acting(user if callable(user) else (lambda: user))
    token = _acting.set(holder)
    try:
        yield user
    finally:
        _acting.reset(token)


@contextlib.contextmanager
def via(name: str):
    """Rows written inside this block without a request name ``name`` as their method."""
    token = _via.set(name)
    try:
        yield
    finally:
        _via.reset(token)


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, or behind a proxy that
    DBKEEPER["CLIENT_ADDRESS_HEADER"] names (e.g. HTTP_X_FORWARDED_FOR), the
    address that proxy added last (the ones before it came from the client)."""
    if request is None:
        return ""
    header = conf.get("CLIENT_ADDRESS_HEADER")
    if header and request.META.get(header):
        return request.META[header].split(",")[-1].strip()[:64]
    return (request.META.get("REMOTE_ADDR") or "")[:64]


def request_fields(request) -> dict:
    """``record()``'s method, address, user agent and token prefix for ``request``."""
    if request is None:
        return {}
    fields = {"address": client_address(request), "user_agent": (request.META.get("HTTP_USER_AGENT") or "")[:300]}
    api_token = getattr(request, "api_token", None)
    if api_token is not None:
        fields.update(method="api_token", token_prefix=api_token.token_hash[:8])
    elif getattr(request, "user", None) is not None and request.user.is_authenticated:
        fields["method"] = "session"
    return fields
