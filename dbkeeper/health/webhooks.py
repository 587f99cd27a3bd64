"""The alert webhook: each alert event as a JSON POST to
DBKEEPER["ALERT_WEBHOOK_URL"], signed with HMAC-SHA256 of the exact body
(header ``X-Dbkeeper-Signature: sha256=<hex>``, key
DBKEEPER["ALERT_WEBHOOK_SECRET"]); retried with a doubling wait, each
attempt recorded as a WebhookAttempt. Called from the watchdog's sweep only."""

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

from django.utils import timezone

from .. import conf
from .models import AlertEvent, WebhookAttempt

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Dbkeeper-Signature"


def configured() -> bool:
    return bool(conf.get("ALERT_WEBHOOK_URL"))


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new((secret or "").encode(), body, hashlib.sha256).hexdigest()


def payload(event: AlertEvent) -> dict:
    alert = event.alert
    return {
        "event": event.event,  # "opened" or "resolved"
        "event_id": event.pk,
        "at": event.created_at.isoformat(),
        "alert": {
            "key": alert.key, "kind": alert.kind, "target": alert.target, "state": alert.state,
            "first_seen": alert.first_seen.isoformat(), "last_seen": alert.last_seen.isoformat(),
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
            "count": alert.count, "operation_id": alert.operation_id,
        },
        "message": event.message,  # English; message_data holds the template and parameters
        "message_data": event.message_data,
    }


def _shown_url(url: str) -> str:
    """The address without user and password, for the records and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def deliver_due(now=None) -> int:
    """Send the pending events whose time has come; returns how many were delivered."""
    now = now or timezone.now()
    if not configured():
        return 0
    delivered = 0
    due = AlertEvent.objects.filter(webhook=AlertEvent.Delivery.PENDING, next_attempt_at__lte=now)
    for event in due.select_related("alert").order_by("created_at", "id")[:100]:
        # Claim it, so that a second watchdog does not send it at the same moment.
        hold = now + timedelta(seconds=float(conf.get("ALERT_WEBHOOK_TIMEOUT")) * 3 + 60)
        if not AlertEvent.objects.filter(pk=event.pk, webhook=AlertEvent.Delivery.PENDING,
                                         next_attempt_at=event.next_attempt_at).update(next_attempt_at=hold):
            continue
        if attempt(event):
            delivered += 1
    return delivered


def attempt(event: AlertEvent) -> bool:
    # Imported here: every command loads this module (the signals), few send a webhook.
    import requests

    url = conf.get("ALERT_WEBHOOK_URL")
    body = json.dumps(payload(event), sort_keys=True, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "dbkeeper-alerts",
               SIGNATURE_HEADER: signature(body, conf.get("ALERT_WEBHOOK_SECRET") or "")}
    number = event.webhook_attempts + 1
    started = time.monotonic()
    status_code, error = None, ""
    try:
        response = requests.post(url, data=body, headers=headers, timeout=float(conf.get("ALERT_WEBHOOK_TIMEOUT")),
                                 allow_redirects=False)
        status_code = response.status_code
        ok = 200 <= status_code < 300
        if not ok:
            error = f"HTTP {status_code}"
    except requests.RequestException as exc:
        ok, error = False, f"{type(exc).__name__}: {exc}"[:1000]
    WebhookAttempt.objects.create(event=event, number=number, url=_shown_url(url), status_code=status_code, ok=ok,
                                  error=error, seconds=time.monotonic() - started)
    now = timezone.now()
    if ok:
        AlertEvent.objects.filter(pk=event.pk).update(webhook=AlertEvent.Delivery.DELIVERED, webhook_attempts=number)
        log.info("alert %s %s sent to the webhook (attempt %s)", event.alert.key, event.event, number)
        return True
    if number >= int(conf.get("ALERT_WEBHOOK_ATTEMPTS")):
        AlertEvent.objects.filter(pk=event.pk).update(webhook=AlertEvent.Delivery.FAILED, webhook_attempts=number)
        log.warning("alert %s %s: webhook gave up after %s attempts (%s)", event.alert.key, event.event, number, error)
        return False
    wait = float(conf.get("ALERT_WEBHOOK_BACKOFF")) * 2 ** (number - 1)
    AlertEvent.objects.filter(pk=event.pk).update(webhook_attempts=number, next_attempt_at=now + timedelta(seconds=wait))
    log.warning("alert %s %s: webhook attempt %s failed (%s); next in %.0f s", event.alert.key, event.event,
                number, error, wait)
    return False
