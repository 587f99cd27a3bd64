"""Django discovers an app's models here; each part keeps its own in its folder."""

from .operations.models import Event, Operation, PreRestoreCopy  # noqa: F401
from .targets.models import Target  # noqa: F401
from .backups.models import Backup  # noqa: F401
from .backups.models import PendingDeletion, RetentionPolicy  # noqa: F401
from .access.api_tokens import ApiToken  # noqa: F401
from .uploads.models import Upload  # noqa: F401
from .access.operation_tokens import OperationToken  # noqa: F401
from .notifications.models import Notification  # noqa: F401
from .audit.models import AuditEntry  # noqa: F401
from .access.signin import SigninFailure, SigninLock  # noqa: F401
from .access.twofactor import TotpDevice  # noqa: F401
from .health.models import Alert, AlertEvent, WebhookAttempt  # noqa: F401
from .schedules.models import Schedule, ScheduleRun  # noqa: F401
from .access.grants import TargetGrant  # noqa: F401
