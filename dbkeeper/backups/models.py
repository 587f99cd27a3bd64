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

    # The catalog of backups dbkeeper made (empty for uploads). Each is also
    # in the manifest stored beside the backup (backups.catalog), from which
    # ``dbkeeper rescan`` rebuilds a lost row.
    target_spec = models.TextField(blank=True, default="")  # what resolves the source target again
    target_display = models.CharField(max_length=255, blank=True, default="")  # never holds a password
    database = models.CharField(max_length=255, blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    tool_version = models.CharField(max_length=64, blank=True, default="")  # e.g. "pg_dump 15.4"
    server_version = models.CharField(max_length=64, blank=True, default="")
    tables = models.JSONField(default=dict, blank=True)  # "schema.table" -> exact row count
    # Who or what made it: "manual" (a person: user_id/username) or "schedule:<id>".
    origin = models.CharField(max_length=64, blank=True, default="")
    operation_id = models.CharField(max_length=40, blank=True, default="")
    # The server's roles (pg_dumpall --roles-only), stored beside the backup; "" if not asked for.
    roles_name = models.CharField(max_length=512, blank=True, default="")
    pinned = models.BooleanField(default=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_outcome = models.CharField(max_length=16, blank=True, default="")  # "", passed, failed
    verification_message = models.TextField(blank=True, default="")  # English, for logs
    verification_data = models.JSONField(null=True, blank=True)  # the same as Message.to_json(), to show translated
    verification_operation = models.CharField(max_length=40, blank=True, default="")

    class Meta:
        app_label = "dbkeeper"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.format}, {self.size} bytes)"

    def verification_text(self) -> str:
        """The last verification's sentence in the active language."""
        from ..messages import render_stored

        return render_stored(self.verification_data, self.verification_message) if self.verification_outcome else ""

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
            "storage_name": self.storage_name,
            "encrypted": self.encrypted,
            "recipients": list(self.recipients or []),
            "target": self.target_display,
            "database": self.database,
            "origin": self.origin,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_seconds": self.duration_seconds,
            "tool_version": self.tool_version,
            "server_version": self.server_version,
            "tables": self.tables,
            "roles_name": self.roles_name,
            "pinned": self.pinned,
            "verified_at": self.verified_at.isoformat() if self.verified_at else None,
            "verification_outcome": self.verification_outcome,
            "verification_message": self.verification_text(),
            "verification_operation": self.verification_operation,
            "source": self.source,
            # sha256 is that of the stored bytes; an uploader compares its file with this.
            "plaintext_sha256": (self.info or {}).get("plaintext", {}).get("sha256") if self.encrypted else self.sha256,
        }


class RetentionPolicy(models.Model):
    """How long the backups of one target are kept (backups.retention): the
    target's backups that no schedule made; a schedule's own backups follow
    the schedule's policy."""

    target = models.CharField(max_length=255, unique=True)  # a configured target name
    policy = models.JSONField(default=dict, blank=True)  # retention.clean_policy()
    updated_at = models.DateTimeField(default=timezone.now)
    # After updated_at: this field's name hides django.utils.timezone in the class body.
    timezone = models.CharField(max_length=64, blank=True, default="")  # "": the server's TIME_ZONE
    updated_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        app_label = "dbkeeper"
        ordering = ["target"]

    def as_dict(self):
        return {"target": self.target, "policy": self.policy, "timezone": self.timezone,
                "updated_at": self.updated_at.isoformat(), "updated_by": self.updated_by}


class PendingDeletion(models.Model):
    """A backup that retention is deleting: written before its files go and
    removed with its catalog row, so that a crash in between is finished by
    the next prune (never a catalog row left pointing at a deleted file)."""

    backup_id = models.CharField(max_length=40, unique=True)
    storage = models.CharField(max_length=64, blank=True, default="")
    storage_name = models.CharField(max_length=512)
    roles_name = models.CharField(max_length=512, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "dbkeeper"
        ordering = ["created_at"]
