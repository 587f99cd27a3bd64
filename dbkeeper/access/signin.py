"""Throttling failed sign-ins, in the control database so that every web
process sees the same counts: after SIGNIN_MAX_FAILURES failures within
SIGNIN_WINDOW_SECONDS an account is locked for SIGNIN_LOCKOUT_SECONDS (its
right password is refused meanwhile), and separately an address after
SIGNIN_MAX_FAILURES_PER_ADDRESS failures. Other accounts and addresses are
not affected. Each failure and each lock-out is written to the audit log.

Failures are counted from django.contrib.auth's user_login_failed signal
(connected in DbkeeperConfig.ready), so that every sign-in form counts; the
lock is checked by dbkeeper's sign-in form before it checks the password."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import models
from django.utils import timezone

from .. import conf
from ..audit.context import client_address
from ..audit.service import record
from ..messages import Message, N_

log = logging.getLogger(__name__)

ACCOUNT, ADDRESS = "account", "address"


class SigninFailure(models.Model):
    scope = models.CharField(max_length=16)  # account or address
    key = models.CharField(max_length=150)  # user name (lower case) or address
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "dbkeeper"
        indexes = [models.Index(fields=["scope", "key", "at"])]


class SigninLock(models.Model):
    scope = models.CharField(max_length=16)
    key = models.CharField(max_length=150)
    until = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "dbkeeper"
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="dbkeeper_signinlock_scope_key")]


@dataclass
class Lock:
    scope: str
    key: str
    until: object  # aware datetime

    def sentence(self) -> Message:
        until = timezone.localtime(self.until).strftime("%Y-%m-%d %H:%M:%S %Z")
        if self.scope == ACCOUNT:
            return Message(N_("Too many failed sign-ins: this account is locked until %(until)s. Even the right "
                              "password is refused until then."), {"until": until})
        return Message(N_("Too many failed sign-ins from your address: signing in from it is locked until "
                          "%(until)s."), {"until": until})


def _limits():
    return {ACCOUNT: int(conf.get("SIGNIN_MAX_FAILURES")), ADDRESS: int(conf.get("SIGNIN_MAX_FAILURES_PER_ADDRESS"))}


def _keys(username, address):
    keys = []
    if username:
        keys.append((ACCOUNT, str(username).strip().lower()[:150]))
    if address:
        keys.append((ADDRESS, str(address)[:150]))
    return keys


def active_lock(username, address) -> Lock | None:
    """The lock that refuses a sign-in of ``username`` from ``address`` now, if any."""
    now = timezone.now()
    for scope, key in _keys(username, address):
        lock = SigninLock.objects.filter(scope=scope, key=key, until__gt=now).first()
        if lock is not None:
            return Lock(scope, key, lock.until)
    return None


def register_failure(username, request) -> Lock | None:
    """Count a failed sign-in; returns the lock it caused, if any."""
    address = client_address(request)
    now = timezone.now()
    window = now - timedelta(seconds=float(conf.get("SIGNIN_WINDOW_SECONDS")))
    limits = _limits()
    caused = None
    for scope, key in _keys(username, address):
        SigninFailure.objects.create(scope=scope, key=key, at=now)
        previous = SigninLock.objects.filter(scope=scope, key=key).first()
        since = max(window, previous.until) if previous is not None else window
        if previous is not None and previous.until > now:
            continue  # already locked
        if SigninFailure.objects.filter(scope=scope, key=key, at__gt=since).count() >= limits[scope]:
            until = now + timedelta(seconds=float(conf.get("SIGNIN_LOCKOUT_SECONDS")))
            SigninLock.objects.update_or_create(scope=scope, key=key, defaults={"until": until, "created_at": now})
            caused = caused or Lock(scope, key, until)
            log.warning("sign-in locked for %s %s until %s after %s failures", scope, key, until.isoformat(),
                        limits[scope])
            record("signin.lockout", username=str(username or "")[:150], outcome="locked",
                   sentence=Lock(scope, key, until).sentence(),
                   details={"scope": scope, "until": until.isoformat(), "failures": limits[scope]},
                   **_request_fields(request))
    SigninFailure.objects.filter(at__lt=window).delete()
    return caused


def register_success(username):
    """A successful sign-in clears the account's count (not its address's)."""
    SigninFailure.objects.filter(scope=ACCOUNT, key=str(username).strip().lower()).delete()


def refused_while_locked(username, request, lock: Lock):
    """Audit a sign-in refused because of a lock (the password was not checked)."""
    record("signin.failed", username=str(username or "")[:150], outcome="locked", sentence=lock.sentence(),
           details={"scope": lock.scope}, **_request_fields(request))


def _request_fields(request):
    if request is None:
        return {}
    return {"method": "session", "address": client_address(request),
            "user_agent": (request.META.get("HTTP_USER_AGENT") or "")[:300]}


def on_login_failed(sender, credentials, request=None, **kwargs):
    """Receiver of django.contrib.auth's user_login_failed (connected in
    DbkeeperConfig.ready). ``credentials`` has the password masked already;
    only the user name is kept."""
    username = str((credentials or {}).get("username") or "")[:150]
    step = (credentials or {}).get("step")
    record("signin.failed", username=username, outcome="failed", details={"step": step} if step else None,
           **_request_fields(request))
    try:
        register_failure(username, request)
    except Exception:
        log.exception("could not count a failed sign-in of %s", username)
