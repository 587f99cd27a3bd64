"""Operation records: what was asked, how far it got, and how it ended.

They live in dbkeeper's control database, never in a database being restored.
Users are referred to by id and name, not by foreign key, because the user
table may live in another database, one that a restore may replace.
"""

import secrets
import time

from django.db import models
from django.utils import timezone


def new_operation_id():
    # Sortable by creation time, unguessable; safe in URLs.
    return f"op_{int(time.time() * 1000):x}_{secrets.token_hex(6)}"


class Operation(models.Model):
    class Kind(models.TextChoices):
        RESTORE = "restore"
        BACKUP = "backup"

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
    # One active operation per target: set while queued/running, cleared at the end.
    lock_key = models.CharField(max_length=255, null=True, blank=True, unique=True)

    # Progress.
    percent = models.FloatField(default=0)
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    unit = models.CharField(max_length=16, blank=True, default="")
    message = models.TextField(blank=True, default="")
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

    def add_event(self, message, level="info", code=""):
        return Event.objects.create(operation=self, message=message, level=level, code=code)


class Event(models.Model):
    """One line of an operation's log, in words a person understands."""

    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=16, default="info")
    code = models.CharField(max_length=64, blank=True, default="")
    message = models.TextField()

    class Meta:
        app_label = "dbkeeper"
        ordering = ["at", "id"]


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


class Target(models.Model):
    """A restore target added in the standalone server (UI or `dbkeeper target add`)."""

    name = models.CharField(max_length=100, unique=True)
    url = models.TextField()
    # "superuser": the backups' SQL runs with the target's own rights (targets/pgscratch.py). Default: no.
    trust = models.CharField(max_length=16, blank=True, default="")
    # Role restored objects go to when the live database's owner is a superuser.
    owner = models.CharField(max_length=63, blank=True, default="")
    # Extensions dbkeeper may create for a backup (besides those of the live database).
    extensions = models.JSONField(blank=True, default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "dbkeeper"
        ordering = ["name"]

    def spec(self):
        """What targets.resolve takes: the URL, with the options when there are any."""
        if not (self.trust or self.owner or self.extensions):
            return self.url
        return {"url": self.url, "trust": self.trust, "owner": self.owner, "extensions": list(self.extensions or [])}
