"""Restore targets saved in dbkeeper's control database (as opposed to those
named in settings): added in the standalone server's page or with
``dbkeeper target add``."""

from django.db import models
from django.utils import timezone


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
        # Same app and model name as when it lived in operations/models.py:
        # same table (dbkeeper_target), no migration.
        app_label = "dbkeeper"
        ordering = ["name"]

    def spec(self):
        """What targets.resolve takes: the URL, with the options when there are any."""
        if not (self.trust or self.owner or self.extensions):
            return self.url
        return {"url": self.url, "trust": self.trust, "owner": self.owner, "extensions": list(self.extensions or [])}
