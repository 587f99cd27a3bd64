"""Django discovers an app's models here; each part keeps its own in its folder."""

from .operations.models import Event, Operation, PreRestoreCopy, Target  # noqa: F401
from .backups.models import Backup  # noqa: F401
