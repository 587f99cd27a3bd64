"""What a user does with their notifications: mark them as read."""

from django.utils import timezone

from ..errors import DbkeeperError
from ..messages import N_
from .models import Notification


def mark_read(user_id, notification_id=None, operation_id=None) -> int:
    """Mark the user's unread notifications as read: one (``notification_id``)
    or those of one operation (``operation_id``). Returns how many."""
    rows = Notification.objects.filter(user_id=str(user_id), read_at__isnull=True).exclude(outcome="")
    if str(notification_id or "").isdigit():
        rows = rows.filter(pk=int(notification_id))
    elif operation_id:
        rows = rows.filter(operation_id=operation_id)
    else:
        raise DbkeeperError(N_("Say which notification to mark as read."), code="bad_request")
    return rows.update(read_at=timezone.now())
