"""Handing a stored backup to someone who downloads it: the one service the
download view calls. It finds the backup, checks that the user may take a
copy of its target's data (``backup``), and writes one audit row (who, which backup,
which bytes) for each download that sends bytes."""

import logging
from dataclasses import dataclass

from ..audit import service as audit
from ..errors import DbkeeperError
from ..messages import N_
from . import manage
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


def open_download(user, backup_id) -> Download:
    """The backup ``backup_id`` ready to be downloaded by ``user``; raises
    not_found, forbidden, or a StorageError when the stored file cannot be reached."""
    backup_id = str(backup_id or "").strip()
    try:
        # A download hands over the whole database: ``backup`` on its target (manage.downloadable).
        backup = manage.downloadable(backup_id, user=user)
    except DbkeeperError as exc:
        if exc.code != "backup_missing":
            raise
        raise DbkeeperError(N_("There is no stored backup %(id)s."), code="not_found",
                            params={"id": backup_id[:60]}) from None
    storage = get_storage(backup.storage or None)
    return Download(backup, storage, storage.size(backup.storage_name), user)
