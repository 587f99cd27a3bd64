"""System checks (``manage.py check``) for the
alert settings: a webhook address that cannot be posted to, or one without
a secret (its receiver could not tell dbkeeper's alerts from anyone's)."""

from urllib.parse import urlsplit

from django.core import checks

from .. import conf
from ..checks import TAG


def webhook_errors(url, secret) -> list:
    if not url:
        return []
    errors = []
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        errors.append(checks.Error(
            f"DBKEEPER['ALERT_WEBHOOK_URL'] is not an http:// or https:// address: {parts.scheme or '(none)'}://"
            f"{parts.hostname or ''}...",
            hint="Give the full address the alerts are POSTed to, e.g. https://hooks.example.org/dbkeeper.",
            obj="DBKEEPER['ALERT_WEBHOOK_URL']", id="dbkeeper.E101"))
    if not secret:
        errors.append(checks.Error(
            "DBKEEPER['ALERT_WEBHOOK_URL'] is set without DBKEEPER['ALERT_WEBHOOK_SECRET'].",
            hint="The alerts are signed (X-Dbkeeper-Signature: sha256=HMAC of the body) with this secret, so that "
                 "the receiver can tell them from anyone's POST: set a long random one, e.g. "
                 "python -c 'import secrets; print(secrets.token_urlsafe(32))'.",
            obj="DBKEEPER['ALERT_WEBHOOK_SECRET']", id="dbkeeper.E102"))
    return errors


@checks.register(TAG)
def check_alert_webhook(app_configs=None, **kwargs):
    return webhook_errors(conf.get("ALERT_WEBHOOK_URL"), conf.get("ALERT_WEBHOOK_SECRET"))
