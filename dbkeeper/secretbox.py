"""Secrets kept in the control database (saved target passwords, TOTP
seeds) are encrypted with Fernet and a key file that is NOT in the control
database: ``secrets.key`` in the data folder (mode 0600), or the file
DBKEEPER["SECRETS_KEY_FILE"] names. A copy of the control database alone
reveals no password; moving the data folder means moving this file with it."""

import logging
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from . import conf, keyfiles
from .errors import DbkeeperError
from .messages import N_

log = logging.getLogger(__name__)

KEY_FILE = "secrets.key"


class SecretKeyError(DbkeeperError):
    code = "secrets_key"


def key_path() -> Path:
    configured = conf.get("SECRETS_KEY_FILE")
    return Path(configured).expanduser() if configured else conf.data_dir() / KEY_FILE


def _missing():
    return SecretKeyError(N_("The key file %(path)s is missing: targets with saved passwords cannot be used; "
                             "restore the key from the data folder (or its backup) where they were saved."),
                          code="secrets_key_missing", params={"path": str(key_path())})


def _fernet(create: bool) -> Fernet:
    key = keyfiles.read_key(key_path())
    if not key:
        if not create:
            raise _missing()
        key = keyfiles.create_key(key_path(), Fernet.generate_key)
    try:
        return Fernet(key)
    except ValueError:
        raise SecretKeyError(N_("The key file %(path)s is damaged: it does not hold a Fernet key."),
                             code="secrets_key_damaged", params={"path": str(key_path())}) from None


def encrypt(text: str, create: bool = True) -> str:
    """``text`` encrypted. ``create``: make the key file if there is none (only
    when no secret was saved before: a missing key must not be replaced
    silently by a new one that opens nothing)."""
    return _fernet(create).encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet(create=False).decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise SecretKeyError(N_("The key file %(path)s does not open the saved passwords: it is not the key they "
                                "were saved with. Restore the right key from the data folder (or its backup) "
                                "where they were saved."), code="secrets_key_wrong",
                             params={"path": str(key_path())}) from None


def key_exists() -> bool:
    return bool(keyfiles.read_key(key_path()))
