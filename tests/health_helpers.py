"""Catalog histories for the health tests, written straight into the
control database (in the test process, or in a live server's through
``server.python``): three targets, one healthy, one whose schedule went
stale, one whose scheduled backup is failing."""

from datetime import timedelta

OK_TARGET, STALE_TARGET, FAILING_TARGET = "books", "ledger", "orders"


def add_backups(target, now, runs=70, every=timedelta(days=1), gap_days=(), origin="manual"):
    """``runs`` catalog rows for ``target``, the newest at ``now`` minus an hour,
    none on the days ``gap_days`` back; sizes and durations grow with time."""
    from dbkeeper.backups.models import Backup, new_backup_id

    rows = []
    for i in range(runs):
        when = now - timedelta(hours=1) - every * i
        if (now - when).days in gap_days:
            continue
        backup_id = new_backup_id()
        rows.append(Backup(id=backup_id, name=f"{target}-{i}.dump", storage_name=f"{target}/{backup_id}.dump",
                           size=1_000_000 + (runs - i) * 10_000, sha256="0" * 64, format="pg_custom",
                           source="backup", target_spec=target, target_display=target, database=target,
                           created_at=when, started_at=when, finished_at=when,
                           duration_seconds=5 + (runs - i) / 10, origin=origin, username="keeper"))
    Backup.objects.bulk_create(rows)
    return rows


def seed(now=None):
    """The three targets and their histories; returns the schedules by target."""
    from django.utils import timezone

    from dbkeeper.health import alerts
    from dbkeeper.health.models import Alert
    from dbkeeper.messages import Message, N_
    from dbkeeper.schedules.models import Schedule
    from dbkeeper.targets.models import Target

    now = now or timezone.now()
    for name in (OK_TARGET, STALE_TARGET, FAILING_TARGET):
        Target.objects.create(name=name, url=f"postgresql://keeper@127.0.0.1:9/{name}")
    long_ago = now - timedelta(days=200)
    schedules = {
        name: Schedule.objects.create(name=f"{name}-nightly", target=name, cron="30 2 * * *", created_at=long_ago,
                                      timezone="UTC")
        for name in (OK_TARGET, STALE_TARGET, FAILING_TARGET)
    }
    # The healthy one keeps 30 daily and 8 weekly backups: older ones in between are for the next prune.
    Schedule.objects.filter(pk=schedules[OK_TARGET].pk).update(retention={"keep_daily": 30, "keep_weekly": 8})
    # Healthy: a backup every day by its schedule, a few days missing long ago, the newest verified.
    kept = add_backups(OK_TARGET, now, runs=100, gap_days=(10, 11, 40), origin=f"schedule:{schedules[OK_TARGET].id}")
    from dbkeeper.backups.models import Backup

    Backup.objects.filter(pk=kept[0].id).update(verified_at=now - timedelta(minutes=30), verification_outcome="passed")
    Backup.objects.filter(pk=kept[5].id).update(pinned=True)
    # Stale: its schedule's last backups are three days old.
    add_backups(STALE_TARGET, now - timedelta(days=3), runs=20, origin=f"schedule:{schedules[STALE_TARGET].id}")
    # Failing: backed up until yesterday, then its scheduled backup failed.
    add_backups(FAILING_TARGET, now - timedelta(hours=10), runs=5, origin=f"schedule:{schedules[FAILING_TARGET].id}")
    alerts.open_alert(f"backup_failed:schedule:{schedules[FAILING_TARGET].id}", Alert.Kind.BACKUP_FAILED,
                      FAILING_TARGET, Message(N_("The scheduled backup %(schedule)s of %(target)s failed: %(error)s"),
                                              {"schedule": f"{FAILING_TARGET}-nightly", "target": FAILING_TARGET,
                                               "error": "connection refused"}))
    return schedules
