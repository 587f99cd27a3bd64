"""Optional TOTP two-factor sign-in (RFC 6238, 30-second codes of 6 digits,
with pyotp). A user is enrolled with ``dbkeeper 2fa enrol USER``, which prints
the otpauth:// URI to put in an authenticator app; from then on the sign-in
page asks for a code after the password. With DBKEEPER["REQUIRE_2FA"] on, a
superuser who is not enrolled cannot sign in.

The seed is encrypted with the secrets key (secretbox.py); the user is named
by id and name, not by foreign key (the user table may live in a database
that a restore replaces); a code is accepted once (its time step is kept).
pyotp and the key (cryptography) are imported by the functions that use them:
this module is imported with the models by every command."""

import logging
import time

from django.db import models
from django.utils import timezone

from .. import conf
from ..audit.service import record

log = logging.getLogger(__name__)

ISSUER = "dbkeeper"
WINDOW = 1  # also accept the code of the previous and the next 30 s


class TotpDevice(models.Model):
    user_id = models.CharField(max_length=64, unique=True)
    username = models.CharField(max_length=150)
    secret_encrypted = models.TextField()
    last_step = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "dbkeeper"


def _secret_may_create() -> bool:
    from ..targets.models import Target

    return not (TotpDevice.objects.exists() or Target.objects.exclude(password_encrypted="").exists())


def enrol(user) -> tuple[TotpDevice, str]:
    """A new TOTP seed for ``user`` (replacing any earlier one); returns the
    device and the otpauth:// URI, shown once."""
    import pyotp

    from .. import secretbox

    secret = pyotp.random_base32()
    encrypted = secretbox.encrypt(secret, create=_secret_may_create())
    TotpDevice.objects.filter(user_id=str(user.pk)).delete()
    device = TotpDevice.objects.create(user_id=str(user.pk), username=user.get_username(), secret_encrypted=encrypted)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.get_username(), issuer_name=ISSUER)
    log.info("TOTP two-factor sign-in enrolled for %s", user.get_username())
    record("2fa.enrol", user=user, outcome="ok")
    return device, uri


def device_for(user) -> TotpDevice | None:
    if user is None or user.pk is None:
        return None
    return TotpDevice.objects.filter(user_id=str(user.pk), username=user.get_username()).first()


def required(user) -> bool:
    return bool(conf.get("REQUIRE_2FA")) and bool(getattr(user, "is_superuser", False))


def check_code(device: TotpDevice, code: str) -> bool:
    """True for a current code not used before (the device remembers its step)."""
    code = "".join(str(code or "").split())
    if not code.isdigit() or len(code) != 6:
        return False
    import pyotp

    from .. import secretbox

    totp = pyotp.TOTP(secretbox.decrypt(device.secret_encrypted))
    now = time.time()
    for offset in range(-WINDOW, WINDOW + 1):
        at = now + offset * totp.interval
        step = int(at // totp.interval)
        if step > device.last_step and totp.at(at) == code:
            # Conditional: two requests with the same code cannot both use it.
            return bool(TotpDevice.objects.filter(pk=device.pk, last_step__lt=step).update(last_step=step))
    return False
