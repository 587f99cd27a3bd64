"""One row per action, appended and never changed. The app has no way to
change or delete a row: save() refuses anything but an insert and delete()
refuses always. What the app cannot prevent (someone writing the database
directly) the HMAC chain reveals (chain.py)."""

from django.db import models
from django.utils import timezone


class AuditLogIsAppendOnly(Exception):
    pass


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditLogIsAppendOnly("audit rows cannot be changed")

    def delete(self):
        raise AuditLogIsAppendOnly("audit rows cannot be deleted")


class AuditEntry(models.Model):
    # Consecutive from 1, given under the append lock: a gap is a deleted row.
    number = models.BigIntegerField(primary_key=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    user_id = models.CharField(max_length=64, blank=True, default="")
    username = models.CharField(max_length=150, blank=True, default="", db_index=True)
    # session, api_token, operation_token, cli, system; never a token itself.
    method = models.CharField(max_length=32, blank=True, default="")
    token_prefix = models.CharField(max_length=8, blank=True, default="")
    address = models.CharField(max_length=64, blank=True, default="")
    user_agent = models.CharField(max_length=300, blank=True, default="")
    target = models.CharField(max_length=255, blank=True, default="")
    database = models.CharField(max_length=255, blank=True, default="")
    backup = models.CharField(max_length=255, blank=True, default="")
    operation = models.CharField(max_length=40, blank=True, default="", db_index=True)
    outcome = models.CharField(max_length=32, blank=True, default="")
    sentence = models.JSONField(null=True, blank=True)  # a Message, as Message.to_json() gives it
    details = models.JSONField(default=dict, blank=True)
    parent = models.BigIntegerField(null=True, blank=True)  # the start row of a long action's end row
    hmac = models.CharField(max_length=64)

    objects = AuditQuerySet.as_manager()

    class Meta:
        app_label = "dbkeeper"
        ordering = ["number"]

    def __str__(self):
        return f"audit #{self.number} {self.action} {self.username or '-'} {self.outcome}"

    def save(self, *args, **kwargs):
        if not kwargs.get("force_insert") or not self._state.adding:
            raise AuditLogIsAppendOnly("audit rows are only inserted (save(force_insert=True)), never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogIsAppendOnly("audit rows cannot be deleted")
