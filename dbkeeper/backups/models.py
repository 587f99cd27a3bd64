"""Stored backups: files that dbkeeper recognised and keeps in its backup
storage (Django's storage API, so S3-compatible storage can be configured)."""

import secrets

from django.db import models
from django.utils import timezone


def new_backup_id():
    return f"bk_{secrets.token_hex(8)}"


class Backup(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_backup_id, editable=False)
    # The name the user knows it by (their file name); never used as a path.
    name = models.CharField(max_length=255)
    # Name inside the backup storage (server-generated).
    storage_name = models.CharField(max_length=512, unique=True)
    # Which backup storage holds it (backups.storage.get_storage(name)); empty:
    # the default one, where every backup went before storages had names.
    storage = models.CharField(max_length=64, blank=True, default="")
    # age public keys the stored bytes are encrypted to; empty: not encrypted.
    # size and sha256 are those of the stored (encrypted) bytes.
    recipients = models.JSONField(default=list, blank=True)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    format = models.CharField(max_length=32)
    format_label = models.CharField(max_length=100, blank=True, default="")
    info = models.JSONField(default=dict, blank=True)  # engines.BackupInfo.as_dict()
    user_id = models.CharField(max_length=64, blank=True, default="")
    username = models.CharField(max_length=150, blank=True, default="")
    source = models.CharField(max_length=32, default="upload")  # upload | backup | import
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "dbkeeper"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.format}, {self.size} bytes)"

    @property
    def encrypted(self) -> bool:
        return bool(self.recipients)

    def as_dict(self):
        return {
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "format": self.format,
            "format_label": self.format_label,
            "info": self.info,
            "created_at": self.created_at.isoformat(),
            "username": self.username,
            "storage": self.storage,
            "encrypted": self.encrypted,
            "recipients": list(self.recipients or []),
            # sha256 is that of the stored bytes; an uploader compares its file with this.
            "plaintext_sha256": (self.info or {}).get("plaintext", {}).get("sha256") if self.encrypted else self.sha256,
        }
