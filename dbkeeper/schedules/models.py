"""A schedule says what to back up and when; a run is one slot of it.

A slot is the schedule's local wall-clock time ("YYYY-MM-DDTHH:MM" in its
time zone), so a time that occurs twice when clocks go back is one slot, and
the unique (schedule, slot) row is what makes every slot run at most once
whatever the number of ticks, consumers or restarts.
"""

import secrets

from django.conf import settings
from django.db import models
from django.utils.timezone import now

from ..messages import render_stored


def new_schedule_id():
    return f"sc_{secrets.token_hex(6)}"


def default_timezone():
    return settings.TIME_ZONE or "UTC"


class Schedule(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_schedule_id, editable=False)
    name = models.CharField(max_length=100, unique=True)
    target = models.CharField(max_length=255)  # a configured target's name
    format = models.CharField(max_length=32, blank=True, default="")  # "": the target's default format
    storage = models.CharField(max_length=64, blank=True, default="")  # "": the default storage
    encrypt = models.BooleanField(default=False)  # to DBKEEPER["AGE_RECIPIENTS"]
    cron = models.CharField(max_length=100)  # five fields, in the schedule's time zone
    timezone = models.CharField(max_length=64, default=default_timezone)
    # Retention policy: {"keep_last": int, "keep_within": "30d", "keep_daily": int, "keep_weekly": int,
    # "keep_monthly": int, "keep_yearly": int}, any subset; {}: keep everything.
    retention = models.JSONField(default=dict, blank=True)
    verify_every = models.PositiveIntegerField(default=0)  # 0 off, 1 every run, N every Nth run
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)
    created_by = models.CharField(max_length=150, blank=True, default="")
    # The tick's cursor: the next slot not yet recorded and when it is due (UTC);
    # the tick reads only schedules whose next_due_at has come.
    next_slot = models.CharField(max_length=16, blank=True, default="")
    next_due_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        app_label = "dbkeeper"
        ordering = ["name"]

    def __str__(self):
        return f"schedule {self.name} ({self.cron} {self.timezone})"


class ScheduleRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        SKIPPED = "skipped"
        MISSED = "missed"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="runs")
    slot = models.CharField(max_length=16)  # local wall-clock "YYYY-MM-DDTHH:MM"
    due_at = models.DateTimeField()  # UTC
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    operation_id = models.CharField(max_length=40, blank=True, default="")
    backup_id = models.CharField(max_length=40, blank=True, default="")
    verify_operation_id = models.CharField(max_length=40, blank=True, default="")
    message = models.JSONField(null=True, blank=True)  # Message.to_json()
    # The database server the backup runs against (per-server concurrency).
    server = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "dbkeeper"
        ordering = ["-due_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["schedule", "slot"], name="dbkeeper_schedule_slot_once")]
        indexes = [models.Index(fields=["status"])]

    def __str__(self):
        return f"{self.schedule_id} {self.slot} ({self.status})"

    def rendered_message(self) -> str:
        return render_stored(self.message, "")
