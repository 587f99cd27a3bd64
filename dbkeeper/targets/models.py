"""Restore targets saved in dbkeeper's control database (as opposed to those
named in settings): added in the standalone server's page or with
``dbkeeper target add``."""

from django.db import models
from django.utils import timezone


class Target(models.Model):
    """A restore target added in the standalone server (UI or `dbkeeper target add`)."""

    name = models.CharField(max_length=100, unique=True)
    # The URL without its password; the password is in password_encrypted
    # (Fernet, key file apart from this database: dbkeeper/secretbox.py).
    url = models.TextField()
    password_encrypted = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # Same app and model name as when it lived in operations/models.py:
        # same table (dbkeeper_target), no migration.
        app_label = "dbkeeper"
        ordering = ["name"]
