"""Handing a stored backup to someone who downloads it: the one service the
download view calls. It finds the backup, asks the permissions module whether
the user may see its target, and writes one audit row (who, which backup,
which bytes) for each download that sends bytes."""

import logging
from dataclasses import dataclass

from ..access.permissions import require
from ..audit import service as audit
from ..errors import DbkeeperError
from ..messages import N_
from .models import Backup
from .storage import BackupStorage, get_storage

log = logging.getLogger(__name__)


@dataclass
class Download:
    backup: Backup
    storage: BackupStorage
    size: int
    user: object = None

    def stream(self, start: int, end: int, method: str = ""):
        """The stored bytes ``start``..``end`` (inclusive) as chunks, once the
        download is in the audit log. Storage errors raise StorageError."""
        chunks = self.storage.open_stream(self.backup.storage_name, start, end)
        audit.record("backup.download", user=self.user, backup=self.backup.id,
                     target=audit.target_label(self.backup.target_spec, self.backup.target_display),
                     database=self.backup.database, outcome="ok",
                     details={"name": self.backup.name, "start": start, "end": end, "size": self.size,
                              "whole": start == 0 and end == self.size - 1, "auth": method})
        return chunks


def _is_name(spec: str) -> bool:
    return bool(spec) and "://" not in spec and not spec.startswith("alias:")


def open_download(user, backup_id) -> Download:
    """The backup ``backup_id`` ready to be downloaded by ``user``; raises
    not_found, forbidden, or a StorageError when the stored file cannot be reached."""
    backup_id = str(backup_id or "").strip()
    backup = Backup.objects.filter(pk=backup_id).first() if backup_id else None
    if backup is None:
        raise DbkeeperError(N_("There is no stored backup %(id)s."), code="not_found", params={"id": backup_id[:60]})
    require(user, "view", backup.target_spec if _is_name(backup.target_spec) else None)
    storage = get_storage(backup.storage or None)
    return Download(backup, storage, storage.size(backup.storage_name), user)
