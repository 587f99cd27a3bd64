from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """The project's own user model (AUTH_USER_MODEL)."""

    display_name = models.CharField(max_length=100, blank=True, default="")
