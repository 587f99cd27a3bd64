"""Django discovers an app's models here; each part keeps its own in its folder."""

from .operations.models import Event, Operation, PreRestoreCopy, Target  # noqa: F401
