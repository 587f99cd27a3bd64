"""Who may read the progress of one operation (the status endpoint), and how.

Credentials, in order: the operation token in the ``X-Temp-Token`` header,
then a personal API token or the login session of a staff member who may see
the operation. A token put in the address is refused and revoked (addresses
end up in logs and browser history). Nothing here writes the login session."""

from dataclasses import dataclass

from ..messages import Message, N_
from ..operations.models import Operation
from . import auth
from . import operation_tokens as tokens
from .auth import Method, Refusal


# A request's (raw token, operation id, tokens.Check) when its token was checked already.
CHECKED_ATTR = "_dbkeeper_token_check"


@dataclass
class StatusDecision:
    """The operation to show (``refusal`` is None) or why not; and, for the
    request's log line, how the request was authenticated, by whom, and the
    prefix of the token it carried (never the token)."""

    operation: Operation | None = None
    refusal: Refusal | None = None
    method: str = Method.NONE
    user: str = "-"
    token_prefix: str = "-"
    last_event_id: int | None = None  # known when the token's query read it


def decide(request, operation_id) -> StatusDecision:
    decision = StatusDecision()
    leaked = auth.query_tokens(request)
    if leaked:
        for raw in leaked:
            if tokens.revoke_raw(raw, reason="sent_in_url"):
                decision.token_prefix = tokens.prefix_of(raw)
        decision.refusal = Refusal(400, "token_in_query", Message(N_(
            "The operation token must be sent in the X-Temp-Token header, never in the address "
            "(addresses end up in logs and browser history). A token sent that way has been revoked.")))
        return decision

    refused = None
    raw = request.headers.get(auth.TOKEN_HEADER, "").strip()
    if raw:
        checked = getattr(request, CHECKED_ATTR, None)  # by the lean path (web.pollpath), for this token
        check = checked[2] if checked and checked[:2] == (raw, operation_id) else tokens.verify(raw, operation_id)
        decision.token_prefix = check.prefix
        if check.ok:
            decision.method = Method.OPERATION_TOKEN
            decision.user = check.token.username or check.token.user_id or "-"
            decision.operation = check.token.operation
            decision.last_event_id = check.token.last_event_id
            return decision
        refused = check

    # No working token: a staff session (or personal API token) may still read it.
    credential = auth.user_credential(request)
    if credential.authenticated:
        decision.method, decision.user = credential.method, credential.username or "-"
        decision.operation, decision.refusal = _seen_by(credential.user, operation_id)
        return decision

    decision.refusal = auth.not_signed_in(request) if refused is None else _token_refusal(refused, operation_id)
    return decision


def _seen_by(user, operation_id):
    if not auth.can_restore(user):
        return None, auth.not_staff()
    operation = Operation.objects.filter(pk=operation_id).first()
    if operation is None:
        return None, _not_found()
    if not auth.can_see(user, operation):
        from .permissions import PermissionRefused, require_on

        try:  # their own, on a target they may no longer see
            if str(user.pk) == operation.user_id:
                require_on(user, "view", operation.target_spec, operation.target_display)
        except PermissionRefused as exc:
            return None, Refusal(403, exc.code, exc.sentence)
        return None, Refusal(403, "not_your_operation", Message(N_("This restore was started by someone else.")))
    return operation, None


def _token_refusal(check, operation_id) -> Refusal:
    if check.verdict == tokens.Verdict.OTHER_OPERATION:
        if not Operation.objects.filter(pk=operation_id).exists():
            return _not_found()
        return Refusal(403, "token_wrong_operation", Message(N_("This token belongs to another restore.")))
    if check.verdict == tokens.Verdict.EXPIRED:
        sentence = N_("The progress token has expired. Sign in again to see how the restore ended.")
    else:
        sentence = N_("The progress token is not valid (it was revoked at sign-out, or never existed). "
                      "Sign in again to see how the restore ended.")
    return Refusal(401, f"token_{check.verdict}", Message(sentence), scheme="X-Temp-Token")


def _not_found() -> Refusal:
    return Refusal(404, "not_found", Message(N_("There is no operation with this id.")))
