"""Alerts: one per problem, told once when it opens and once when it is resolved.

Problems come from two places, both wired in DbkeeperConfig.ready():
- the end of an operation (operations.signals.operation_finished): a failed
  scheduled backup, a failed verification, a storage error; the next success
  of the same kind resolves it;
- the watchdog's sweep (operations.signals.watchdog_swept): stale schedules
  (their last two slots passed without a successful run).

A problem seen again while open only bumps its count and last-seen time.
Opening or resolving records an AlertEvent and the in-app notifications of
the staff who may view the target at once (rows in the control database);
the e-mails and the webhook are sent by the watchdog's sweep, never in a web
request or in the worker that ran the operation.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from .. import conf
from ..access.permissions import has_perm
from ..messages import Message, N_
from ..notifications.models import Notification
from ..operations.models import Operation
from . import webhooks
from .models import Alert, AlertEvent

log = logging.getLogger(__name__)

DUMMY_BACKENDS = {"django.core.mail.backends.dummy.EmailBackend"}
# Error codes of a failed backup that are the storage's fault (besides every "storage_*").
STORAGE_CODES = {"disk_full"}


# -- opening and resolving ---------------------------------------------------------------

def open_alert(key: str, kind: str, target: str, sentence: Message, operation_id: str = "") -> Alert:
    """The problem ``key`` is seen (again). Returns its alert; only the first
    sighting since it was last resolved makes an "opened" event."""
    now = timezone.now()
    fields = {"message": sentence.english(), "message_data": sentence.to_json(), "last_seen": now,
              "operation_id": operation_id or ""}
    with transaction.atomic(using=Alert.objects.db):
        alert = Alert.objects.select_for_update().filter(key=key).first()
        if alert is None:
            try:
                with transaction.atomic(using=Alert.objects.db):
                    alert = Alert.objects.create(key=key, kind=kind, target=target or "", first_seen=now, count=1,
                                                 **fields)
            except IntegrityError:  # another process opened it meanwhile
                alert = Alert.objects.select_for_update().get(key=key)
            else:
                _event(alert, AlertEvent.Event.OPENED, sentence)
                return alert
        if alert.state == Alert.State.OPEN:
            if operation_id and operation_id == alert.operation_id:
                return alert  # the same failure reported twice (worker and watchdog)
            Alert.objects.filter(pk=alert.pk).update(count=alert.count + 1, **fields)
            alert.refresh_from_db()
            log.info("alert %s seen again (%s times)", key, alert.count)
            return alert
        Alert.objects.filter(pk=alert.pk).update(state=Alert.State.OPEN, first_seen=now, resolved_at=None, count=1,
                                                 kind=kind, target=target or "", **fields)
        alert.refresh_from_db()
        _event(alert, AlertEvent.Event.OPENED, sentence)
        return alert


def resolve_alert(key: str, sentence: Message) -> Alert | None:
    """The problem ``key`` is gone: one "resolved" event if it was open."""
    now = timezone.now()
    with transaction.atomic(using=Alert.objects.db):
        if not Alert.objects.filter(key=key, state=Alert.State.OPEN).update(state=Alert.State.RESOLVED,
                                                                            resolved_at=now):
            return None
        alert = Alert.objects.get(key=key)
        _event(alert, AlertEvent.Event.RESOLVED, sentence)
    return alert


def _event(alert: Alert, event: str, sentence: Message) -> AlertEvent:
    record = AlertEvent.objects.create(
        alert=alert, event=event, message=sentence.english(), message_data=sentence.to_json(),
        email=AlertEvent.Delivery.PENDING if email_configured() else AlertEvent.Delivery.NONE,
        webhook=AlertEvent.Delivery.PENDING if webhooks.configured() else AlertEvent.Delivery.NONE,
    )
    users = recipients(alert.target)
    outcome = "alert" if event == AlertEvent.Event.OPENED else "resolved"
    Notification.objects.bulk_create([
        Notification(user_id=str(u.pk), username=u.get_username(), outcome=outcome, sentence=sentence.to_json())
        for u in users
    ])
    log.warning("alert %s %s: %s (told %s users in-app)", alert.key, event, sentence.english(), len(users))
    from ..audit.service import record as audit

    operation = alert.operation_id if alert.operation_id.startswith("op_") else ""
    audit(f"alert.{event}", target=alert.target, operation=operation, outcome=alert.kind, sentence=sentence,
          details={"key": alert.key, "count": alert.count, "told_in_app": len(users)})
    return record


def recipients(target: str) -> list:
    """The active staff who may view ``target`` (every target for "")."""
    User = get_user_model()
    try:
        staff = list(User._default_manager.filter(is_active=True, is_staff=True)) + list(
            User._default_manager.filter(is_active=True, is_staff=False, is_superuser=True))
    except Exception:  # the user table may be unreachable, or being restored
        log.warning("could not read the users to tell about an alert", exc_info=True)
        return []
    return [u for u in staff if has_perm(u, "view", target or None)]


# -- what operations tell ----------------------------------------------------------------

def on_operation_finished(sender, operation, **kwargs):
    """Receiver of operations.signals.operation_finished. A failure here never
    changes how the operation ended."""
    try:
        from_operation(operation)
    except Exception:
        log.exception("could not update the alerts after operation %s", operation.id)


def _request(operation: Operation) -> dict:
    return (operation.result or {}).get("request") or {}


def from_operation(operation: Operation) -> None:
    if operation.status == Operation.Status.CANCELLED:
        return
    failed = operation.status == Operation.Status.FAILED
    target = operation.target_spec if "://" not in operation.target_spec else operation.target_display
    names = {"target": target or operation.target_display, "operation": operation.id}
    if operation.kind == Operation.Kind.BACKUP:
        request = _request(operation)
        storage = request.get("storage") or ""
        if failed and (operation.error_code.startswith("storage") or operation.error_code in STORAGE_CODES):
            open_alert(f"storage:{storage}", Alert.Kind.STORAGE, "",
                       Message(N_("The %(storage)s backup storage failed: %(error)s"),
                               {"storage": storage,
                                "error": _sentence(operation.error_data, operation.error_message)}), operation.id)
        elif not failed and storage:
            resolve_alert(f"storage:{storage}", Message(N_("The %(storage)s backup storage works again."),
                                                        {"storage": storage}))
        origin = request.get("origin") or ""
        if origin.startswith("schedule:"):
            key = f"backup_failed:{origin}"
            names["schedule"] = _schedule_name(origin.split(":", 1)[1])
            if failed:
                open_alert(key, Alert.Kind.BACKUP_FAILED, target, Message(
                    N_("The scheduled backup %(schedule)s of %(target)s failed: %(error)s"),
                    {**names, "error": _sentence(operation.error_data, operation.error_message)}), operation.id)
            else:
                resolve_alert(key, Message(N_("The scheduled backup %(schedule)s of %(target)s succeeded again."),
                                           names))
    elif operation.kind == Operation.Kind.VERIFY:
        from ..backups.models import Backup

        backup = Backup.objects.filter(pk=operation.backup_id).first()
        if backup is None:
            return
        source = backup.target_spec if backup.target_spec and "://" not in backup.target_spec else (
            backup.target_display or "")
        key = f"verify_failed:{source or backup.id}"
        names = {"backup": backup.name, "target": source or backup.target_display}
        if failed and backup.verification_outcome == "failed":
            open_alert(key, Alert.Kind.VERIFY_FAILED, source, Message(
                N_("The verification of the backup %(backup)s of %(target)s failed: %(error)s"),
                {**names, "error": _sentence(operation.error_data, operation.error_message)}), operation.id)
        elif not failed:
            resolve_alert(key, Message(N_("A backup of %(target)s passed its verification again (%(backup)s)."),
                                       names))


def _schedule_name(schedule_id: str) -> str:
    from ..schedules.models import Schedule

    return Schedule.objects.filter(pk=schedule_id).values_list("name", flat=True).first() or schedule_id


# -- the watchdog's part -----------------------------------------------------------------

def on_watchdog_sweep(sender, **kwargs):
    """Receiver of operations.signals.watchdog_swept."""
    try:
        sweep()
    except Exception:
        log.exception("alert sweep failed; trying again at the next one")


def sweep(now=None) -> None:
    now = now or timezone.now()
    check_schedule_runs(now)
    check_stale(now)
    send_emails()
    webhooks.deliver_due(now)


def check_schedule_runs(now=None, window=timedelta(days=1)) -> None:
    """Scheduled runs that failed before any operation existed (the target
    could not be reached when the backup was planned, a removed target): the
    latest ended run of each schedule tells. Runs with an operation are told
    by the operation's end (on_operation_finished)."""
    from ..schedules.models import ScheduleRun

    now = now or timezone.now()
    recent = (ScheduleRun.objects.filter(status=ScheduleRun.Status.FAILED, operation_id="",
                                         finished_at__gte=now - window)
              .values_list("schedule_id", flat=True).distinct())
    for schedule_id in set(recent):
        run = (ScheduleRun.objects.filter(schedule_id=schedule_id, status__in=[ScheduleRun.Status.SUCCEEDED,
                                                                              ScheduleRun.Status.FAILED])
               .select_related("schedule").order_by("-finished_at", "-id").first())
        if run is None or run.status != ScheduleRun.Status.FAILED or run.operation_id:
            continue
        key = f"backup_failed:schedule:{schedule_id}"
        seen = f"run:{run.pk}"
        alert = Alert.objects.filter(key=key).first()
        if alert is not None and (alert.operation_id == seen or (
                alert.state == Alert.State.RESOLVED and alert.resolved_at and alert.resolved_at >= run.finished_at)):
            continue
        schedule = run.schedule
        open_alert(key, Alert.Kind.BACKUP_FAILED, schedule.target, Message(
            N_("The scheduled backup %(schedule)s of %(target)s failed: %(error)s"),
            {"schedule": schedule.name, "target": schedule.target, "error": _sentence(run.message, "")}), seen)


def _sentence(data, text):
    """A stored error as a nested Message, so that an alert read in Arabic says
    its cause in Arabic too (its rendered text would stay in the language of the
    moment it was written); the English text when nothing else was kept."""
    if data:
        try:
            return Message.from_json(data)
        except (KeyError, TypeError, ValueError):
            pass
    return text


def check_stale(now=None) -> None:
    from . import service

    for facts in service.schedule_facts(now=now):
        key = f"stale:schedule:{facts.id}"
        names = {"schedule": facts.name, "target": facts.target}
        if facts.stale:
            open_alert(key, Alert.Kind.STALE, facts.target, Message(
                N_("The schedule %(schedule)s of %(target)s is stale: its last two runs did not make a backup."),
                names))
        else:
            resolve_alert(key, Message(N_("The schedule %(schedule)s of %(target)s made a backup again."), names))


def email_configured() -> bool:
    return bool(conf.get("ALERT_EMAILS")) and settings.EMAIL_BACKEND not in DUMMY_BACKENDS


def send_emails() -> int:
    sent = 0
    for event in AlertEvent.objects.filter(email=AlertEvent.Delivery.PENDING).select_related("alert")[:100]:
        # Claim it first: two watchdogs never send the same e-mail.
        if not AlertEvent.objects.filter(pk=event.pk, email=AlertEvent.Delivery.PENDING).update(
                email=AlertEvent.Delivery.DELIVERED):
            continue
        ok = True
        for user in recipients(event.alert.target):
            address = getattr(user, "email", "")
            if not address:
                continue
            with translation.override(settings.LANGUAGE_CODE):
                subject, body = email_for(event)
            try:
                send_mail(subject, body, None, [address])
                sent += 1
            except Exception:
                ok = False
                log.warning("could not e-mail %s about alert %s", user.get_username(), event.alert.key, exc_info=True)
        if not ok:
            AlertEvent.objects.filter(pk=event.pk).update(email=AlertEvent.Delivery.FAILED)
    return sent


def email_for(event: AlertEvent) -> tuple[str, str]:
    """Subject and body, in the active language."""
    from django.utils.translation import gettext as _
    from django.utils.translation import ngettext

    from ..messages import render_stored

    alert = event.alert
    sentence = render_stored(event.message_data, event.message)
    about = alert.target or alert.key.split(":", 1)[-1]
    if event.event == AlertEvent.Event.OPENED:
        subject = _("dbkeeper alert: %(target)s") % {"target": about}
    else:
        subject = _("dbkeeper resolved: %(target)s") % {"target": about}
    lines = [sentence, ngettext("First seen: %(when)s; seen %(count)s time.",
                                "First seen: %(when)s; seen %(count)s times.", alert.count) % {
        "when": alert.first_seen.strftime("%Y-%m-%d %H:%M UTC"), "count": alert.count}]
    if alert.operation_id:
        lines.append(_("Operation: %(id)s") % {"id": alert.operation_id})
    return subject.replace("\n", " "), "\n\n".join(lines) + "\n"
