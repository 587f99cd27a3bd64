"""Telling a user how their operation ended, even if they were away: an in-app
notification that waits for their next page load, and an e-mail when the
server has e-mail configured. (The open page also uses the browser's
Notification API; that part lives in the page's JavaScript.)"""

from django.db import models
from django.utils import timezone

from ..operations.models import Operation


class Notification(models.Model):
    # The user it is for (no FK: the user table may live in another database).
    user_id = models.CharField(max_length=64)
    username = models.CharField(max_length=150, blank=True, default="")
    operation = models.ForeignKey(Operation, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    # "succeeded", "failed" or "cancelled": the page words the sentence in the reader's language.
    # Empty until the operation ends (a row made when the web starts it keeps the user's language).
    outcome = models.CharField(max_length=16, blank=True, default="")
    language = models.CharField(max_length=16, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    # A notification about no operation (a backup alert): its sentence, Message.to_json().
    sentence = models.JSONField(null=True, blank=True)

    class Meta:
        app_label = "dbkeeper"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user_id", "read_at"])]

    def rendered_sentence(self) -> str:
        from ..messages import render_stored

        return render_stored(self.sentence) if self.sentence else ""

    def __str__(self):
        return f"notification {self.pk} for {self.username}: {self.operation_id} {self.outcome}"
