"""Operation records: what was asked, how far it got, and how it ended.

They live in dbkeeper's control database, never in a database being restored.
Users are referred to by id and name, not by foreign key, because the user
table may live in another database, one that a restore may replace.
"""

import secrets
import time

from django.db import models
from django.utils import timezone

from ..messages import Message, render_stored


def new_operation_id():
    # Sortable by creation time, unguessable; safe in URLs.
    return f"op_{int(time.time() * 1000):x}_{secrets.token_hex(6)}"


class Operation(models.Model):
    class Kind(models.TextChoices):
        RESTORE = "restore"
        BACKUP = "backup"
        VERIFY = "verify"
        # The database manager's long actions (dbkeeper/databases/runner.py).
        DUPLICATE = "duplicate"
        DROP = "drop"
        UNDO = "undo"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        CANCELLING = "cancelling"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Stage(models.TextChoices):
        VALIDATING = "validating"
        RESTORING = "restoring"
        CHECKING = "checking"
        SWAPPING = "swapping"
        BACKING_UP = "backing_up"
        COPYING = "copying"
        DROPPING = "dropping"
        DONE = "done"

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.CANCELLING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.CharField(primary_key=True, max_length=40, default=new_operation_id, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.RESTORE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.VALIDATING)

    # Who started it (no FK: the user table may be the one being restored).
    user_id = models.CharField(max_length=64, blank=True, default="")
    username = models.CharField(max_length=150, blank=True, default="")

    # What: the source file and where it goes. target_spec is what resolves the
    # target (a configured name, an alias or a URL); target_display never holds a password.
    source_path = models.TextField(blank=True, default="")
    source_name = models.CharField(max_length=255, blank=True, default="")
    backup_id = models.CharField(max_length=40, blank=True, default="")
    backup_format = models.CharField(max_length=32, blank=True, default="")
    target_spec = models.TextField(blank=True, default="")
    target_display = models.CharField(max_length=255, blank=True, default="")
    # A restore into a new database on the target's server (create from a backup): its name;
    # "" for the target's own database. target_spec stays the configured target (no password here).
    database = models.CharField(max_length=255, blank=True, default="")
    # A restore of a stored backup made with its server's roles: create the roles
    # the server lacks first (only through a target that trusts its backups).
    apply_roles = models.BooleanField(default=False)
    # One active operation per target: set while queued/running, cleared at the end.
    lock_key = models.CharField(max_length=255, null=True, blank=True, unique=True)

    # Progress.
    percent = models.FloatField(default=0)
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    unit = models.CharField(max_length=16, blank=True, default="")
    message = models.TextField(blank=True, default="")
    # The sentences as template and parameters (Message.to_json()), so that
    # they are shown in the reader's language; the text fields keep the English
    # (logs, and records written before these existed).
    message_data = models.JSONField(null=True, blank=True)
    eta_seconds = models.IntegerField(null=True, blank=True)

    # Worker bookkeeping.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=128, blank=True, default="")
    cancel_requested = models.BooleanField(default=False)
    scratch_name = models.CharField(max_length=255, blank=True, default="")
    prerestore_name = models.CharField(max_length=255, blank=True, default="")

    # Outcome.
    result = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    error_data = models.JSONField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "dbkeeper"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["user_id"])]

    def __str__(self):
        return f"{self.kind} {self.id} ({self.status})"

    @property
    def finished(self):
        return self.status in self.FINISHED

    def elapsed_seconds(self):
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()

    def add_event(self, message, level="info", code="", params=None):
        """``message``: a Message, or a template (N_/Np_) with ``params``."""
        message = Message(message, params)
        return Event.objects.create(
            operation=self, message=message.english(), data=message.to_json(), level=level, code=code
        )

    def rendered_message(self) -> str:
        return render_stored(self.message_data, self.message)

    def rendered_error(self) -> str:
        return render_stored(self.error_data, self.error_message)


class Event(models.Model):
    """One line of an operation's log, in words a person understands."""

    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=16, default="info")
    code = models.CharField(max_length=64, blank=True, default="")
    message = models.TextField()
    data = models.JSONField(null=True, blank=True)  # Message.to_json() of message

    class Meta:
        app_label = "dbkeeper"
        ordering = ["at", "id"]

    def rendered(self) -> str:
        return render_stored(self.data, self.message)


class PreRestoreCopy(models.Model):
    """The live database as it was before a restore replaced it."""

    target_spec = models.TextField()
    target_display = models.CharField(max_length=255)
    name = models.CharField(max_length=255)  # database name, or file path for SQLite
    operation = models.ForeignKey(Operation, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    dropped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "dbkeeper"
        ordering = ["-created_at"]
