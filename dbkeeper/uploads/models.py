"""An upload in progress (or just finished): how much of the file has
arrived, whose it is, and what became of it."""

import secrets

from django.db import models
from django.utils import timezone


def new_upload_id():
    # Unguessable and safe in a URL and a file name.
    return f"up_{secrets.token_hex(16)}"


class Upload(models.Model):
    class Status(models.TextChoices):
        RECEIVING = "receiving"
        COMPLETING = "completing"  # all bytes are in; being recognised and stored
        STORED = "stored"  # became a stored backup (backup_id)
        REJECTED = "rejected"  # no engine recognised it; the file is deleted
        FAILED = "failed"  # could not be stored; the file is deleted

    FINISHED = (Status.STORED, Status.REJECTED, Status.FAILED)

    id = models.CharField(primary_key=True, max_length=40, default=new_upload_id, editable=False)
    # Whose upload it is (no FK: the user table may be the one being restored).
    user_id = models.CharField(max_length=64)
    username = models.CharField(max_length=150)
    length = models.BigIntegerField()
    # Bytes received; always the length of the partial file.
    offset = models.BigIntegerField(default=0)
    # The client's Upload-Metadata, decoded; the file name in it is never a path.
    metadata = models.JSONField(default=dict, blank=True)
    filename = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVING)
    backup_id = models.CharField(max_length=40, blank=True, default="")
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    error_data = models.JSONField(null=True, blank=True)  # Message.to_json() of error_message
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Unfinished: when the partial file is deleted (moves on with each chunk).
    # Finished: when this record of the outcome is deleted.
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "dbkeeper"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["expires_at"]), models.Index(fields=["user_id"])]

    def __str__(self):
        return f"upload {self.id} ({self.status}, {self.offset}/{self.length})"

    @property
    def finished(self):
        return self.status in self.FINISHED

    def expired(self, now=None):
        return not self.finished and self.expires_at <= (now or timezone.now())

    def as_dict(self):
        from ..backups.models import Backup

        backup = Backup.objects.filter(pk=self.backup_id).first() if self.backup_id else None
        return {
            "id": self.id,
            "status": self.status,
            "filename": self.filename,
            "offset": self.offset,
            "length": self.length,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "backup": backup.as_dict() if backup else None,
            "error": {"code": self.error_code, "message": self.error_message} if self.error_code else None,
        }
