"""Sign-in accounts for the standalone server, made by a superuser from the
command line: someone to grant permissions to (``dbkeeper grant``) without
Django's admin, which the standalone server does not mount."""

import logging
import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ..audit.service import record
from ..errors import DbkeeperError
from ..messages import N_
from . import permissions

log = logging.getLogger(__name__)


def create_user(username: str, email: str = "", staff: bool = False, by=None) -> tuple:
    """A new active user with a random password: (user, password). Only
    superusers (or dbkeeper itself, ``by`` None) make users; the password is
    returned once and never logged."""
    if by is not None and not (permissions.is_active_user(by) and by.is_superuser):
        raise permissions.PermissionRefused(N_("Only superusers may create users."))
    User = get_user_model()
    username = str(username or "").strip()
    if not username:
        raise DbkeeperError(N_("A user name is needed."), code="bad_username")
    try:
        User._meta.get_field(User.USERNAME_FIELD).run_validators(username)
    except ValidationError:
        raise DbkeeperError(N_("%(name)s is not a user name: use letters, digits and @ . + - _ only."),
                            code="bad_username", params={"name": username})
    if User._default_manager.filter(**{User.USERNAME_FIELD: username}).exists():
        raise DbkeeperError(N_("A user named %(name)s exists already."), code="user_exists", params={"name": username})
    password = secrets.token_urlsafe(12)
    try:
        with transaction.atomic(using=User._default_manager.db):
            user = User._default_manager.create_user(username, email=email or "", password=password,
                                                     is_staff=bool(staff))
    except IntegrityError:
        raise DbkeeperError(N_("A user named %(name)s exists already."), code="user_exists",
                            params={"name": username}) from None
    log.info("user %s created%s", username, " (staff)" if staff else "")
    record("user.create", user=by, outcome="ok", details={"username": username, "staff": bool(staff)})
    return user, password
