"""Personal API tokens for scripts and the command line.

A token is shown once when it is created; only its SHA-256 is stored, with a
short prefix that identifies it in listings without being usable. Requests
present it as ``Authorization: Bearer dbk_…``.

The user is referred to by id and name, not by foreign key: the user table may
live in a database that a restore replaces. A token only authenticates while
the user with that id still has that name and is active, so a restored user
table cannot hand a token to somebody else.
"""

import logging
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone

from ..audit import service as audit
from ..errors import DbkeeperError
from ..messages import N_, Np_
from .tokens import hash_token

log = logging.getLogger(__name__)

TOKEN_PREFIX = "dbk_"
# "dbk_" and 8 random characters: enough to tell tokens apart, useless to an attacker.
DISPLAY_LENGTH = len(TOKEN_PREFIX) + 8
# last_used_at is written at most this often, not on every upload chunk.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiToken(models.Model):
    user_id = models.CharField(max_length=64)
    username = models.CharField(max_length=150)
    name = models.CharField(max_length=100, blank=True, default="")
    prefix = models.CharField(max_length=DISPLAY_LENGTH)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "dbkeeper"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["prefix"])]

    def __str__(self):
        return f"{self.prefix}… ({self.username}{', ' + self.name if self.name else ''})"

    @property
    def active(self):
        return self.revoked_at is None


def create_token(user, name="") -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the record and the secret, which is
    not stored and cannot be shown again."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken.objects.create(
        user_id=str(user.pk),
        username=user.get_username(),
        name=name[:100],
        prefix=secret[:DISPLAY_LENGTH],
        token_hash=hash_token(secret),
    )
    log.info("API token %s… created for %s", record.prefix, record.username)
    audit.record("token.create", user=user, outcome="ok", details={"kind": "api_token", "token": record.token_hash[:8], "id": record.pk, "name": record.name})
    return record, secret


def find_token(prefix_or_id) -> ApiToken:
    """The one active token whose id or display prefix is given."""
    text = str(prefix_or_id).strip().rstrip("…")
    active = ApiToken.objects.filter(revoked_at__isnull=True)
    if text.isdigit():
        found = list(active.filter(pk=int(text)))
    else:
        found = list(active.filter(prefix__startswith=text)) if len(text) >= len(TOKEN_PREFIX) + 4 else []
    if not found:
        raise DbkeeperError(N_("No active API token matches %(text)s; see 'dbkeeper token list'."),
                            code="token_not_found", params={"text": repr(text)})
    if len(found) > 1:
        raise DbkeeperError(Np_("%(count)s token matches %(text)s; give the token's id instead.",
                                "%(count)s tokens match %(text)s; give the token's id instead."),
                            code="token_ambiguous", params={"count": len(found), "text": repr(text)})
    return found[0]


def revoke_token(record: ApiToken) -> ApiToken:
    record.revoked_at = timezone.now()
    record.save(update_fields=["revoked_at"])
    log.info("API token %s… of %s revoked", record.prefix, record.username)
    audit.record("token.revoke", username=record.username, user_id=record.user_id, outcome="ok",
                 details={"kind": "api_token", "token": record.token_hash[:8], "id": record.pk})
    return record


def bearer_credential(request) -> str | None:
    """The token in ``Authorization: Bearer …``, or None when there is none."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _sep, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    return credential.strip()


def authenticate_bearer(request):
    """The active user whose personal API token the request carries in
    ``Authorization: Bearer …``, or None (no token, unknown, revoked, or its
    user gone, renamed or inactive). The record is kept on
    ``request.api_token``."""
    credential = bearer_credential(request)
    if not credential or not credential.startswith(TOKEN_PREFIX) or len(credential) > 200:
        return None
    record = ApiToken.objects.filter(token_hash=hash_token(credential), revoked_at__isnull=True).first()
    if record is None:
        log.info("refused an unknown or revoked API token %s…", credential[:DISPLAY_LENGTH])
        return None
    User = get_user_model()
    user = User._default_manager.filter(pk=record.user_id).first()
    if user is None or user.get_username() != record.username or not user.is_active:
        log.info("refused API token %s…: its user %s is gone or inactive", record.prefix, record.username)
        return None
    now = timezone.now()
    if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=record.pk).update(last_used_at=now)
        record.last_used_at = now
    request.api_token = record
    return user
