"""Alerts: one row per problem (not per failure), the events it went
through (opened, resolved) and every attempt to deliver an event to the
webhook."""

from django.db import models
from django.utils import timezone

from ..messages import render_stored


class Alert(models.Model):
    class Kind(models.TextChoices):
        BACKUP_FAILED = "backup_failed"  # a scheduled backup failed
        VERIFY_FAILED = "verify_failed"  # a verification found a bad backup
        STALE = "stale"  # a schedule's last two slots passed without a successful run
        STORAGE = "storage"  # the backup storage refused or could not be reached

    class State(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    # What the problem is, e.g. "backup_failed:schedule:3" or "storage:local":
    # a problem seen again bumps ``count`` on its row instead of adding one.
    key = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    target = models.CharField(max_length=255, blank=True, default="")  # configured name, "" for storage
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    count = models.IntegerField(default=1)  # times seen since it opened
    # The latest sentence about it (Message.to_json()) and its English (logs).
    message = models.TextField(blank=True, default="")
    message_data = models.JSONField(null=True, blank=True)
    operation_id = models.CharField(max_length=40, blank=True, default="")  # the latest one that showed it

    class Meta:
        app_label = "dbkeeper"
        ordering = ["-last_seen"]
        indexes = [models.Index(fields=["state", "target"])]

    def __str__(self):
        return f"alert {self.key} ({self.state}, seen {self.count}x)"

    def rendered(self) -> str:
        return render_stored(self.message_data, self.message)


class AlertEvent(models.Model):
    """An alert opened or resolved: what is told (once) to every channel."""

    class Event(models.TextChoices):
        OPENED = "opened"
        RESOLVED = "resolved"

    class Delivery(models.TextChoices):
        NONE = "none"  # channel not configured when the event happened
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"  # gave up

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    event = models.CharField(max_length=16, choices=Event.choices)
    created_at = models.DateTimeField(default=timezone.now)
    message = models.TextField(blank=True, default="")
    message_data = models.JSONField(null=True, blank=True)
    email = models.CharField(max_length=16, choices=Delivery.choices, default=Delivery.PENDING)
    webhook = models.CharField(max_length=16, choices=Delivery.choices, default=Delivery.PENDING)
    webhook_attempts = models.IntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "dbkeeper"
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["webhook", "next_attempt_at"]), models.Index(fields=["email"])]

    def __str__(self):
        return f"{self.alert.key} {self.event}"


class WebhookAttempt(models.Model):
    """One POST of an alert event to DBKEEPER["ALERT_WEBHOOK_URL"]."""

    event = models.ForeignKey(AlertEvent, on_delete=models.CASCADE, related_name="attempts")
    number = models.IntegerField()
    at = models.DateTimeField(default=timezone.now)
    url = models.CharField(max_length=1000, blank=True, default="")  # without credentials
    status_code = models.IntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")
    seconds = models.FloatField(default=0)

    class Meta:
        app_label = "dbkeeper"
        ordering = ["at", "id"]
