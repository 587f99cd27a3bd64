"""Whether a restore replaces the accounts or sessions of the project dbkeeper
runs in. Restoring a host application's own database brings the backup's
users and sessions with it: whoever started the restore must sign in again,
and the ending of the restore says so."""

import logging

from django.apps import apps
from django.db import router

from .. import targets
from ..errors import DbkeeperError
from ..messages import Message, N_

log = logging.getLogger(__name__)

SIGN_IN_AGAIN = Message(N_("The restore succeeded. Sign in again: the restored database has its own accounts and sessions."))


def _account_aliases():
    aliases = set()
    if apps.is_installed("django.contrib.auth"):
        from django.contrib.auth import get_user_model

        aliases.add(router.db_for_write(get_user_model()))
    if apps.is_installed("django.contrib.sessions"):
        from django.contrib.sessions.models import Session

        aliases.add(router.db_for_write(Session))
    return aliases


def replaces_sign_ins(target) -> bool:
    """True when ``target`` is the database that holds this project's users or sessions."""
    for alias in _account_aliases():
        try:
            if targets.resolve(f"alias:{alias or 'default'}").lock_key() == target.lock_key():
                return True
        except DbkeeperError:
            continue  # dbkeeper's own database (standalone server): never a target
    return False
