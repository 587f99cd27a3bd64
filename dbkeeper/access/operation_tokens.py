"""Operation tokens: a credential that reads the progress of one operation and
nothing else, so that tracking a restore does not depend on the login session.

- 256 bits from ``secrets``; only the SHA-256 hash is stored, in the control
  database (every web process sees it; no per-process cache).
- Bound to one operation and the user who started it.
- Expires at the earliest of: idle for TOKEN_IDLE_SECONDS (each use renews it),
  TOKEN_MAX_AGE_SECONDS after it was issued, and TOKEN_GRACE_AFTER_END_SECONDS
  after the operation ended. Revoked when its user logs out.
- Logs name a token by the first 8 hex characters of its hash, never more.
"""

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from datetime import timezone as dt_timezone

from django.db import connections, models, router
from django.db.models.base import ModelState
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .. import conf
from ..audit import service as audit
from ..operations.models import Operation
from .tokens import hash_token

log = logging.getLogger(__name__)

TOKEN_BYTES = 32  # 256 bits
PREFIX_LENGTH = 8
# Renewal writes are throttled: a token polled every second is written at most
# this often (or a tenth of the idle period, if that is shorter).
RENEW_EVERY_SECONDS = 60


class OperationToken(models.Model):
    token_hash = models.CharField(max_length=64, unique=True)
    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="tokens")
    # The user who started the operation (no FK: the user table may live elsewhere).
    user_id = models.CharField(max_length=64, blank=True, default="")
    username = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        app_label = "dbkeeper"
        indexes = [models.Index(fields=["user_id", "revoked_at"])]

    def __str__(self):
        return f"token {self.prefix} for {self.operation_id}"

    @property
    def prefix(self):
        return self.token_hash[:PREFIX_LENGTH]

    def expires_at(self, operation=None):
        """The moment this token stops working, whatever happens before."""
        operation = operation or self.operation
        limits = [
            self.last_used_at + timedelta(seconds=float(conf.get("TOKEN_IDLE_SECONDS"))),
            self.created_at + timedelta(seconds=float(conf.get("TOKEN_MAX_AGE_SECONDS"))),
        ]
        if operation.finished_at:
            limits.append(operation.finished_at + timedelta(seconds=float(conf.get("TOKEN_GRACE_AFTER_END_SECONDS"))))
        return min(limits)


def prefix_of(raw: str) -> str:
    """How logs may name a raw token: the start of its hash."""
    return hash_token(raw)[:PREFIX_LENGTH]


def issue(operation: Operation) -> str:
    """A new token for ``operation``, bound to the user who started it.
    Returns the raw token: it is shown once and never stored."""
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    token = OperationToken.objects.create(
        token_hash=hash_token(raw),
        operation=operation,
        user_id=operation.user_id,
        username=operation.username,
    )
    log.info("operation token issued op=%s user=%s token=%s", operation.id, operation.username or "-", token.prefix)
    audit.record("token.create", username=operation.username, user_id=operation.user_id, operation=operation.id,
                 outcome="ok", details={"kind": "operation_token", "token": token.prefix})
    _purge_old()
    return raw


class Verdict:
    OK = "ok"
    MISSING = "missing"  # no such token (never issued, or purged)
    REVOKED = "revoked"
    EXPIRED = "expired"
    OTHER_OPERATION = "other_operation"


@dataclass
class Check:
    verdict: str
    token: OperationToken | None = None
    prefix: str = ""

    @property
    def ok(self):
        return self.verdict == Verdict.OK


def verify(raw: str, operation_id: str) -> Check:
    """Check ``raw`` for reading ``operation_id``; a token that works is renewed."""
    digest = hash_token(raw)
    prefix = digest[:PREFIX_LENGTH]
    token = _load(digest)
    if token is None:
        return Check(Verdict.MISSING, prefix=prefix)
    if token.revoked_at is not None:
        return Check(Verdict.REVOKED, token, prefix)
    now = timezone.now()
    if now >= token.expires_at():
        return Check(Verdict.EXPIRED, token, prefix)
    # A token serves the operation it was issued for, started by its user.
    if token.operation_id != operation_id or token.user_id != token.operation.user_id:
        return Check(Verdict.OTHER_OPERATION, token, prefix)
    _renew(token, now)
    return Check(Verdict.OK, token, prefix)


# The operation fields a status answer needs, read together with the token.
STATUS_FIELDS = ["id", "kind", "status", "stage", "user_id", "username", "source_name", "target_display", "percent",
                 "done", "total", "unit", "message", "message_data", "eta_seconds", "result", "error_code",
                 "error_message", "error_data", "started_at", "updated_at", "finished_at", "database"]
TOKEN_FIELDS = ["id", "operation_id", "user_id", "username", "created_at", "last_used_at", "revoked_at"]


def _load(digest) -> OperationToken | None:
    """The token, its operation, and the id of the operation's latest event
    (``token.last_event_id``), in one query: this runs for every poll of
    every open progress page, so it skips the ORM's query building, and an
    operation whose row reads exactly as at the last poll is not converted
    again (the token always is: a revocation counts at once)."""
    alias = router.db_for_read(OperationToken)
    sql = _LOAD_SQL.get(alias) or _LOAD_SQL.setdefault(alias, _load_sql(connections[alias]))
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [digest])
        row = cursor.fetchone()
    if row is None:
        return None
    values = [_from_db(OperationToken, n, v) for n, v in zip(TOKEN_FIELDS, row)]
    token = OperationToken(token_hash=digest, **dict(zip(TOKEN_FIELDS, values)))
    token._state.adding, token._state.db = False, alias
    op_values = tuple(row[len(TOKEN_FIELDS):-1])
    token.operation = _operation_from_row(alias, op_values)
    token.last_event_id = row[-1]
    return token


# The SQL of _load, per database alias.
_LOAD_SQL = {}
# (alias, operation id) -> (the operation's raw row, the Operation made from it); one entry per watched
# operation, each a copy handed out so that no request sees another's changes.
_OPERATIONS = {}
_OPERATIONS_SIZE = 256


def _load_sql(connection) -> str:
    qn = connection.ops.quote_name
    event_table = qn(Operation._meta.get_field("events").related_model._meta.db_table)
    columns = [f"t.{qn(OperationToken._meta.get_field(n).column)}" for n in TOKEN_FIELDS]
    columns += [f"o.{qn(Operation._meta.get_field(n).column)}" for n in STATUS_FIELDS]
    return (
        f"SELECT {', '.join(columns)}, "
        # 0 when it has none: None would mean "not read" to the status view, which reads it again.
        f"(SELECT COALESCE(MAX(e.id), 0) FROM {event_table} e WHERE e.operation_id = o.id) "
        f"FROM {qn(OperationToken._meta.db_table)} t JOIN {qn(Operation._meta.db_table)} o ON o.id = t.operation_id "
        "WHERE t.token_hash = %s"
    )


def _operation_from_row(alias, raw) -> Operation:
    key = (alias, raw[0])
    known = _OPERATIONS.get(key)
    if known is None or known[0] != raw:
        operation = Operation(**{n: _from_db(Operation, n, v) for n, v in zip(STATUS_FIELDS, raw)})
        operation._state.adding, operation._state.db = False, alias
        if len(_OPERATIONS) >= _OPERATIONS_SIZE:
            _OPERATIONS.clear()
        known = _OPERATIONS[key] = (raw, operation)
    # A copy of its fields (the values themselves are only read), with a state of its own.
    clone = Operation.__new__(Operation)
    clone.__dict__.update(known[1].__dict__)
    clone._state = ModelState()
    clone._state.adding, clone._state.db = False, alias
    return clone


def _from_db(model, name, value):
    """A raw column value as the ORM would give it (aware datetimes, decoded JSON)."""
    field = model._meta.get_field(name)
    if value is None:
        return None
    if isinstance(field, models.DateTimeField):
        if isinstance(value, str):
            value = parse_datetime(value)
        return timezone.make_aware(value, dt_timezone.utc) if timezone.is_naive(value) else value
    if isinstance(field, models.JSONField) and isinstance(value, (str, bytes)):
        return json.loads(value)
    return value


def _renew(token: OperationToken, now):
    every = min(RENEW_EVERY_SECONDS, float(conf.get("TOKEN_IDLE_SECONDS")) / 10)
    if (now - token.last_used_at).total_seconds() < every:
        return
    # Conditional, so that many concurrent polls write once.
    OperationToken.objects.filter(pk=token.pk, last_used_at=token.last_used_at).update(last_used_at=now)
    token.last_used_at = now


def revoke_for_user(user_id, reason="logout") -> int:
    count = OperationToken.objects.filter(user_id=str(user_id), revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason
    )
    if count:
        log.info("revoked %d operation token(s) of user %s (%s)", count, user_id, reason)
        audit.record("token.revoke", user_id=str(user_id), outcome="ok",
                     details={"kind": "operation_token", "count": count, "reason": reason})
    return count


def revoke_raw(raw: str, reason) -> bool:
    """Revoke the token whose raw value is ``raw`` (e.g. it leaked into a URL)."""
    return bool(
        OperationToken.objects.filter(token_hash=hash_token(raw), revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_reason=reason
        )
    )


def _purge_old():
    """Tokens past their absolute cap (plus a day, for the audit trail) are deleted."""
    cutoff = timezone.now() - timedelta(seconds=float(conf.get("TOKEN_MAX_AGE_SECONDS")) + 86400)
    OperationToken.objects.filter(created_at__lt=cutoff).delete()


def revoke_on_logout(sender, request, user, **kwargs):
    """Receiver of django.contrib.auth's user_logged_out (connected in DbkeeperConfig.ready)."""
    if user is not None and user.pk is not None:
        revoke_for_user(user.pk)
