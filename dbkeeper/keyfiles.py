"""Key files in the data folder (the audit log's HMAC key, the key that
encrypts saved target passwords): created once, readable by the owner only,
and never stored in the control database, so that someone who can read or
write that database does not hold them too."""

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def read_key(path: Path) -> bytes | None:
    """The key in ``path``, or None when the file does not exist."""
    try:
        return Path(path).read_bytes().strip()
    except FileNotFoundError:
        return None


def create_key(path: Path, make) -> bytes:
    """Write ``make()`` to ``path`` (mode 0600, never over an existing file)
    and return what the file holds: if another process created it first, its key."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_key(path)
    with os.fdopen(fd, "wb") as fh:
        fh.write(make())
    log.info("created the key file %s", path)
    return read_key(path)
