"""Alerts: a scheduled backup of a PostgreSQL server that went down opens
one alert however often it fails, told once in-app, by e-mail (to a real
local SMTP server) and to a local webhook that checks the HMAC signature,
retried after a refused delivery with each attempt recorded; the server back
and a successful run resolve it once. Also stale schedules, failed
verifications, and bad webhook settings changing nothing."""

import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from dbkeeper.backups import service as backup_service
from dbkeeper.health import alerts, webhooks
from dbkeeper.health.models import Alert, AlertEvent, WebhookAttempt
from dbkeeper.notifications.models import Notification
from dbkeeper.operations import runner, watchdog
from dbkeeper.schedules.models import Schedule

from .alert_receivers import SmtpReceiver, WebhookReceiver
from .schedule_helpers import run_queued
from .backup_helpers import make_backup, own_storage  # noqa: F401 (fixture)
from .builders import make_pg_source, make_sqlite
from .pgserver import PgServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_storage")]

SECRET = "hook-secret-for-tests"


@pytest.fixture
def flaky_pg():
    """A PostgreSQL server of the test's own, which the test stops and starts."""
    server = PgServer().start()
    yield server
    try:
        server.stop()
    except subprocess.CalledProcessError:  # left stopped by a failing test; its folder is removed all the same
        pass


def _run(plan):
    op = backup_service.record(plan)
    runner.run(op.id)
    op.refresh_from_db()
    return op


def test_a_schedule_against_a_stopped_server_alerts_once_and_resolves_once(flaky_pg, settings, alice, bob,
                                                                         django_user_model):
    make_pg_source(flaky_pg, "shop", rows=50, value="x")
    outsider = django_user_model.objects.create_user("outsider", password="pw", email="o@example.org")
    with WebhookReceiver(SECRET) as hook, SmtpReceiver() as smtp:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        settings.DEFAULT_FROM_EMAIL = "dbkeeper@example.org"
        settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {"shop": flaky_pg.url("shop")},
                             "ALERT_WEBHOOK_URL": hook.url, "ALERT_WEBHOOK_SECRET": SECRET,
                             "ALERT_WEBHOOK_BACKOFF": 0, "ALERT_WEBHOOK_ATTEMPTS": 4}
        schedule = Schedule.objects.create(name="nightly", target="shop", cron="0 3 * * *")
        plan = backup_service.plan_backup("shop", origin=f"schedule:{schedule.id}")

        flaky_pg.halt()
        # The run and its retries all fail: one alert, seen three times.
        ops = [_run(plan) for _ in range(3)]
        assert [op.status for op in ops] == ["failed"] * 3, [op.error_message for op in ops]
        alert = Alert.objects.get()
        assert (alert.key, alert.kind, alert.target, alert.state, alert.count) == (
            f"backup_failed:schedule:{schedule.id}", "backup_failed", "shop", "open", 3)
        assert alert.operation_id == ops[-1].id and alert.first_seen < alert.last_seen
        assert alert.message.startswith("The scheduled backup nightly of shop failed: Cannot connect to the target shop")
        assert "Connection refused" in alert.message
        assert list(AlertEvent.objects.values_list("event", flat=True)) == ["opened"]
        # In-app: once, to each staff member who may view the target; not to the outsider.
        notes = Notification.objects.filter(outcome="alert")
        assert sorted(n.username for n in notes) == ["alice", "bob"]
        assert notes[0].operation_id is None and "nightly of shop failed" in notes[0].rendered_sentence()
        # Nothing left the worker yet: the watchdog's sweep sends. The webhook refuses once, then takes it.
        assert hook.received == [] and smtp.messages == []
        hook.fail_next = 1
        alerts.sweep()
        assert len(hook.received) == 1 and AlertEvent.objects.get().webhook == "pending"
        alerts.sweep()
        alerts.sweep()
        assert hook.events() == [("opened", alert.key)]
        assert all(r["valid"] and r["content_type"] == "application/json" for r in hook.received)
        body = hook.received[-1]["body"]
        assert body["alert"]["count"] == 3 and body["alert"]["state"] == "open"
        attempts = list(WebhookAttempt.objects.values_list("number", "status_code", "ok"))
        assert attempts == [(1, 500, False), (2, 204, True)]
        assert AlertEvent.objects.get().webhook == "delivered"
        # E-mail: one to alice (bob has no address; the outsider is not staff).
        assert [(to, subject) for to, subject, _ in smtp.messages] == [
            (["alice@example.org"], "dbkeeper alert: shop")]
        assert alert.message in smtp.messages[0][2]
        assert "seen 3 times" in smtp.messages[0][2] and ops[-1].id in smtp.messages[0][2]

        # The server is back and the next run succeeds: one "resolved", everywhere.
        flaky_pg.resume()
        done = _run(backup_service.plan_backup("shop", origin=f"schedule:{schedule.id}"))
        assert done.status == "succeeded", done.error_message
        again = _run(backup_service.plan_backup("shop", origin=f"schedule:{schedule.id}"))
        assert again.status == "succeeded"
        alert.refresh_from_db()
        assert alert.state == "resolved" and alert.resolved_at is not None
        assert list(AlertEvent.objects.values_list("event", flat=True)) == ["opened", "resolved"]
        assert Notification.objects.filter(outcome="resolved").count() == 2
        from dbkeeper.audit.models import AuditEntry

        assert list(AuditEntry.objects.filter(action__startswith="alert.").order_by("number").values_list(
            "action", "target", "outcome")) == [("alert.opened", "shop", "backup_failed"),
                                                ("alert.resolved", "shop", "backup_failed")]
        alerts.sweep()
        alerts.sweep()
        assert hook.events() == [("opened", alert.key), ("resolved", alert.key)]
        assert len(smtp.messages) == 2 and smtp.messages[1][1] == "dbkeeper resolved: shop"
        assert "The scheduled backup nightly of shop succeeded again." in smtp.messages[1][2]
        assert outsider.email not in [to for m in smtp.messages for to in m[0]]


def test_the_schedule_tick_against_a_stopped_server_alerts_once_per_problem_and_resolves_once(flaky_pg, settings,
                                                                                            alice):
    """The whole way: the schedules' tick starts the runs, the watchdog's sweep tells."""
    from dbkeeper.schedules import service as schedules
    from dbkeeper.schedules.models import ScheduleRun
    from dbkeeper.schedules.tick import tick

    make_pg_source(flaky_pg, "shop", rows=50, value="x")
    with WebhookReceiver(SECRET) as hook:
        settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {"shop": flaky_pg.url("shop")},
                             "SCHEDULE_STARTS_PER_MINUTE": 100, "ALERT_WEBHOOK_URL": hook.url,
                             "ALERT_WEBHOOK_SECRET": SECRET, "ALERT_WEBHOOK_BACKOFF": 0}
        start = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
        schedule = schedules.create_schedule({"name": "every-minute", "target": "shop", "cron": "* * * * *",
                                              "timezone": "UTC"}, now=start - timedelta(seconds=30))
        flaky_pg.halt()

        def minute_passes(m):
            now = start + timedelta(minutes=m, seconds=1)
            tick(now)
            run_queued()
            tick(now + timedelta(seconds=20))  # follows the runs' operations
            watchdog_now = now + timedelta(seconds=40)
            alerts.sweep(now=watchdog_now)

        for m in range(4):  # four slots fail, one after the other
            minute_passes(m)
        assert set(ScheduleRun.objects.filter(schedule=schedule).values_list("status", flat=True)) == {"failed"}
        # pg_dump's check of the server fails when the run is planned: no operation, the run tells.
        assert set(ScheduleRun.objects.filter(schedule=schedule).values_list("operation_id", flat=True)) == {""}
        failed = Alert.objects.get(kind="backup_failed")
        assert failed.state == "open" and failed.count == 4 and failed.target == "shop"
        assert "The scheduled backup every-minute of shop failed: " in failed.message
        stale = Alert.objects.get(kind="stale")  # its last two slots passed without a backup
        assert stale.state == "open"
        assert sorted(hook.events()) == sorted([("opened", failed.key), ("opened", stale.key)])
        assert Notification.objects.filter(username="alice", outcome="alert").count() == 2

        flaky_pg.resume()
        minute_passes(4)
        minute_passes(5)
        assert list(ScheduleRun.objects.filter(schedule=schedule).order_by("due_at").values_list(
            "status", flat=True))[-2:] == ["succeeded", "succeeded"]
        failed.refresh_from_db()
        stale.refresh_from_db()
        assert (failed.state, failed.count, stale.state) == ("resolved", 4, "resolved")
        assert sorted(hook.events()) == sorted([("opened", failed.key), ("opened", stale.key),
                                                ("resolved", failed.key), ("resolved", stale.key)])
        assert AlertEvent.objects.count() == 4
        assert Notification.objects.filter(username="alice", outcome="resolved").count() == 2


def test_a_manual_backup_failing_opens_no_schedule_alert(pg, pg_dbname, settings):
    make_pg_source(pg, pg_dbname, rows=10, value="m")
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {"m": pg.url(pg_dbname)}}
    plan = backup_service.plan_backup("m")
    pg.drop_db(pg_dbname)
    op = _run(plan)
    assert op.status == "failed"
    assert not Alert.objects.exists()


def test_a_storage_error_alerts_once_and_the_storage_working_again_resolves_it(tmp_path, settings, s3_server,
                                                                              s3_bucket, alice):
    """Storage credentials that are refused: every backup fails on the storage, one alert; right ones resolve it."""
    db = tmp_path / "notes.sqlite3"
    make_sqlite(db, rows=10)
    settings.STORAGES = {**settings.STORAGES,
                         "dbkeeper_backups": s3_server.storage_settings(s3_bucket, secret_key="not-the-secret")}
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {"notes": f"sqlite:///{db}"}, "BACKUP_STORAGE": "s3"}
    failed = [make_backup("notes") for _ in range(2)]
    assert [(op.status, op.error_code) for op in failed] == [("failed", "storage_credentials")] * 2
    alert = Alert.objects.get()
    assert (alert.key, alert.kind, alert.target, alert.count) == ("storage:s3", "storage", "", 2)
    assert alert.message.startswith("The s3 backup storage failed: ")
    assert Notification.objects.filter(outcome="alert", username="alice").count() == 1
    settings.STORAGES = {**settings.STORAGES, "dbkeeper_backups": s3_server.storage_settings(s3_bucket)}
    done = make_backup("notes")
    assert done.status == "succeeded", done.error_message
    alert.refresh_from_db()
    assert alert.state == "resolved"
    assert list(alert.events.values_list("event", flat=True)) == ["opened", "resolved"]


def test_a_webhook_that_never_answers_gives_up_after_the_attempts_and_records_each(settings, alice):
    settings.DBKEEPER = {**settings.DBKEEPER, "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/nothing-listens",
                         "ALERT_WEBHOOK_SECRET": SECRET, "ALERT_WEBHOOK_BACKOFF": 0, "ALERT_WEBHOOK_ATTEMPTS": 3}
    from dbkeeper.messages import Message, N_

    alerts.open_alert("storage:local", Alert.Kind.STORAGE, "", Message(N_("The %(storage)s backup storage failed: "
                                                                          "%(error)s"), {"storage": "local",
                                                                                         "error": "disk full"}))
    for _ in range(5):
        watchdog.sweep()  # the watchdog's loop is what delivers
    event = AlertEvent.objects.get()
    assert event.webhook == "failed" and event.webhook_attempts == 3
    tried = list(WebhookAttempt.objects.values_list("number", "ok", "status_code"))
    assert tried == [(1, False, None), (2, False, None), (3, False, None)]
    assert all("ConnectionError" in e for e in WebhookAttempt.objects.values_list("error", flat=True))


def test_the_backoff_waits_longer_each_time(settings, alice):
    from datetime import timedelta

    from django.utils import timezone

    from dbkeeper.messages import Message, N_

    settings.DBKEEPER = {**settings.DBKEEPER, "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/x",
                         "ALERT_WEBHOOK_SECRET": SECRET, "ALERT_WEBHOOK_BACKOFF": 30, "ALERT_WEBHOOK_ATTEMPTS": 5}
    alerts.open_alert("storage:s3", Alert.Kind.STORAGE, "", Message(N_("The %(storage)s backup storage failed: "
                                                                       "%(error)s"), {"storage": "s3", "error": "x"}))
    start = timezone.now()
    alerts.sweep(now=start)
    alerts.sweep(now=start)  # not due yet: no second attempt
    event = AlertEvent.objects.get()
    assert event.webhook_attempts == 1 and WebhookAttempt.objects.count() == 1
    assert timedelta(seconds=29) < event.next_attempt_at - start < timedelta(seconds=40)
    alerts.sweep(now=event.next_attempt_at)
    event.refresh_from_db()
    assert event.webhook_attempts == 2
    assert timedelta(seconds=59) < event.next_attempt_at - timezone.now() < timedelta(seconds=61)


def test_no_webhook_configured_sends_nothing_and_the_signature_is_hmac_sha256():
    assert not webhooks.configured()
    import hashlib
    import hmac

    body = b'{"a":1}'
    assert webhooks.signature(body, "k") == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("url,secret,errors", [
    ("https://hooks.example.org/x", "s", []),
    ("http://127.0.0.1:8080/x", "s", []),
    ("hooks.example.org/x", "s", ["dbkeeper.E101"]),
    ("ftp://hooks.example.org/x", "s", ["dbkeeper.E101"]),
    ("https://hooks.example.org/x", "", ["dbkeeper.E102"]),
    ("https:///x", None, ["dbkeeper.E101", "dbkeeper.E102"]),
])
def test_bad_webhook_settings_are_errors_of_the_system_checks(settings, url, secret, errors):
    from django.core.checks import run_checks

    settings.DBKEEPER = {**settings.DBKEEPER, "ALERT_WEBHOOK_URL": url, "ALERT_WEBHOOK_SECRET": secret}
    found = run_checks(tags=["dbkeeper"])
    assert [e.id for e in found] == errors
    assert all("ALERT_WEBHOOK" in e.msg for e in found)
