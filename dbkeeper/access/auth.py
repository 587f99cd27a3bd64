"""Who is asking: a staff session, a personal API token (``Authorization:
Bearer``), or, for the status endpoint only, an operation token
(``X-Temp-Token``).

Nothing here writes to the login session: reading progress must never extend
it (or an unattended admin session would live forever)."""

import logging
from dataclasses import dataclass, field

from ..messages import Message, N_

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Temp-Token"
# Query parameters that look like someone put a token in the address.
QUERY_TOKEN_NAMES = {"token", "temp_token", "x-temp-token", "x_temp_token", "access_token", "operation_token"}


class Method:
    NONE = "none"
    SESSION = "session"
    API_TOKEN = "api_token"
    OPERATION_TOKEN = "operation_token"


@dataclass
class Credential:
    method: str = Method.NONE
    user: object = None  # the user object for session and API-token credentials
    user_id: str = ""
    username: str = ""
    token_prefix: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def authenticated(self):
        return self.method != Method.NONE


def can_restore(user) -> bool:
    """Whether ``user`` may use dbkeeper's pages and API at all: any
    permission on any target (access/permissions.py); what each action needs
    is checked by its service."""
    from .permissions import may_use

    return may_use(user)


def can_see(user, operation) -> bool:
    """A user sees their own operations on targets they may still see; a superuser sees everyone's."""
    from .permissions import may_on

    if not can_restore(user):
        return False
    if user.is_superuser:
        return True
    return str(user.pk) == operation.user_id and may_on(user, "view", operation.target_spec, operation.target_display)


def has_bearer(request) -> bool:
    return request.headers.get("Authorization", "").lower().startswith("bearer ")


def _bearer_user(request):
    if not has_bearer(request):
        return None
    try:
        from .api_tokens import authenticate_bearer
    except ImportError:  # personal API tokens are not installed
        return None
    return authenticate_bearer(request)


def user_credential(request) -> Credential:
    """The person behind a personal API token or the login session (in that order)."""
    user = _bearer_user(request)
    if user is not None:
        return Credential(Method.API_TOKEN, user, str(user.pk), user.get_username())
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Credential(Method.SESSION, user, str(user.pk), user.get_username())
    return Credential()


def query_tokens(request) -> list[str]:
    """Values of query parameters that carry a token (refused: addresses end up
    in logs, history and Referer headers)."""
    if not request.META.get("QUERY_STRING"):
        return []  # the usual case: no query string to parse
    return [value for key, values in request.GET.lists() if key.lower() in QUERY_TOKEN_NAMES for value in values]


@dataclass
class Refusal:
    """Why a request is turned away: the HTTP status, a stable code, and the
    sentence (a Message, put in the reader's language by the web). ``scheme``
    is the WWW-Authenticate scheme of a 401."""

    status: int
    code: str
    sentence: Message
    scheme: str = ""


def not_signed_in(request=None) -> Refusal:
    """A JSON endpoint's answer to a request without a working credential."""
    if request is not None and has_bearer(request):
        return Refusal(401, "api_token_invalid", Message(N_(
            "The API token is not valid: it is unknown, revoked, or its user is inactive.")), scheme="Bearer")
    return Refusal(401, "session_expired", Message(N_("Your session has expired. Sign in again.")), scheme="Session")


def not_staff() -> Refusal:
    """The answer to a user who holds no dbkeeper permission at all."""
    from .permissions import REFUSED

    return Refusal(403, "forbidden", Message(REFUSED["view"]))
