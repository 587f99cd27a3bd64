"""Delivering the end of an operation to its user: the in-app notification
row, and an e-mail when e-mail is configured."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from ..messages import render_stored
from ..operations.models import Operation
from .models import Notification

log = logging.getLogger(__name__)

DUMMY_BACKENDS = {"django.core.mail.backends.dummy.EmailBackend"}


def expect(operation: Operation, language: str) -> Notification | None:
    """Called when the web starts an operation: remembers the user's language
    for the message that will tell them how it ended."""
    if not operation.user_id:
        return None
    return Notification.objects.create(
        user_id=operation.user_id, username=operation.username, operation=operation, outcome="", language=language or ""
    )


def on_operation_finished(sender, operation, **kwargs):
    """Receiver of operations.signals.operation_finished (connected in
    DbkeeperConfig.ready). A failure here must never change how the operation
    itself ended."""
    try:
        notify(operation)
    except Exception:
        log.exception("could not notify the user of operation %s", operation.id)


def notify(operation: Operation) -> Notification | None:
    if not operation.user_id or not operation.finished:
        return None
    note = Notification.objects.filter(operation=operation, user_id=operation.user_id).first()
    now = timezone.now()
    if note is None:
        note = Notification.objects.create(
            user_id=operation.user_id, username=operation.username, operation=operation,
            outcome=operation.status, created_at=now,
        )
    # Conditional: the end can be reported twice (worker and watchdog); tell once.
    elif Notification.objects.filter(pk=note.pk, outcome="").update(outcome=operation.status, created_at=now):
        note.outcome, note.created_at = operation.status, now
    else:
        return note
    log.info("notification %s for user %s: operation %s %s", note.pk, operation.username or operation.user_id, operation.id, operation.status)
    if email_configured():
        _email(note, operation)
    return note


def email_configured() -> bool:
    wanted = (getattr(settings, "DBKEEPER", {}) or {}).get("EMAIL_NOTIFICATIONS", True)
    return bool(wanted) and settings.EMAIL_BACKEND not in DUMMY_BACKENDS


def _email(note: Notification, operation: Operation):
    from django.contrib.auth import get_user_model

    try:
        user = get_user_model().objects.filter(pk=operation.user_id).first()
    except Exception:  # the user table may be unreachable (or being restored)
        log.warning("could not look up the e-mail address of user %s", operation.user_id, exc_info=True)
        return
    address = getattr(user, "email", "") if user is not None else ""
    if not address:
        return
    with translation.override(note.language or settings.LANGUAGE_CODE):
        subject, body = message_for(operation)
        try:
            send_mail(subject, body, None, [address])
        except Exception:
            log.warning("could not e-mail user %s about operation %s", operation.user_id, operation.id, exc_info=True)
            return
    Notification.objects.filter(pk=note.pk).update(emailed_at=timezone.now())


def message_for(operation: Operation) -> tuple[str, str]:
    """Subject and body in the active language."""
    names = {"source": operation.source_name, "target": operation.target_display}
    if operation.kind == Operation.Kind.BACKUP:
        return _backup_message_for(operation, names)
    if operation.kind == Operation.Kind.VERIFY:
        return _verify_message_for(operation, names)
    if operation.kind in (Operation.Kind.DUPLICATE, Operation.Kind.DROP, Operation.Kind.UNDO):
        return _database_message_for(operation, names)
    return _restore_message_for(operation, names)


def _restore_message_for(operation: Operation, names) -> tuple[str, str]:
    done = [_("The restore of %(source)s into %(target)s succeeded.") % names]
    prerestore = (operation.result or {}).get("prerestore")
    if prerestore:
        done.append(_("The previous database was kept as %(name)s.") % {"name": prerestore})
    return _ended(operation, finished=_("Restore finished: %(source)s into %(target)s") % names,
                  cancelled=_("Restore cancelled: %(source)s into %(target)s") % names,
                  failed=_("Restore failed: %(source)s into %(target)s") % names,
                  succeeded=done, not_done=[_("The live database was not changed.")])


def _backup_message_for(operation: Operation, names) -> tuple[str, str]:
    return _ended(operation, finished=_("Backup finished: %(target)s") % names,
                  cancelled=_("Backup cancelled: %(target)s") % names, failed=_("Backup failed: %(target)s") % names,
                  succeeded=[_("The backup of %(target)s succeeded.") % names])


def _verify_message_for(operation: Operation, names) -> tuple[str, str]:
    return _ended(operation, finished=_("Verification passed: %(source)s") % names,
                  cancelled=_("Verification cancelled: %(source)s") % names,
                  failed=_("Verification failed: %(source)s") % names,
                  succeeded=[render_stored(operation.message_data, operation.message)])


def _database_message_for(operation: Operation, names) -> tuple[str, str]:
    """The database manager's long actions (duplicate, drop, undo a restore): their own sentence says what was done."""
    return _ended(operation, finished=_("Database action finished: %(source)s") % names,
                  cancelled=_("Database action cancelled: %(source)s") % names,
                  failed=_("Database action failed: %(source)s") % names,
                  succeeded=[render_stored(operation.message_data, operation.message)])


def _ended(operation: Operation, *, finished, cancelled, failed, succeeded, not_done=()) -> tuple[str, str]:
    """Subject and body for how ``operation`` ended: the subject for its status;
    the body, the ``succeeded`` lines, else how it ended and the ``not_done``
    lines; then the operation's id."""
    if operation.status == Operation.Status.SUCCEEDED:
        subject, lines = finished, list(succeeded)
    else:
        subject = cancelled if operation.status == Operation.Status.CANCELLED else failed
        lines = [_ending(operation), *not_done]
    lines.append(_("Operation: %(id)s") % {"id": operation.id})
    return subject, "\n\n".join(lines) + "\n"


def _ending(operation: Operation) -> str:
    """How the operation ended, in the active language: its error, else its last message."""
    if operation.error_message:
        return render_stored(operation.error_data, operation.error_message)
    return render_stored(operation.message_data, operation.message)
