"""Backup health: stale schedules (their last two slots passed without a
successful run), failed verifications as alerts, the overview as JSON
(api/health/, only the targets the user may view) and ``dbkeeper status``
with its exit codes 0/1/2, and the dashboard's SVG charts (mirrored in
Arabic)."""

import json
import re
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.test import Client
from django.utils import timezone

from dbkeeper.backups.models import Backup
from dbkeeper.backups.storage import get_storage
from dbkeeper.health import alerts, service
from dbkeeper.health.models import Alert, AlertEvent
from dbkeeper.notifications.models import Notification
from dbkeeper.schedules.models import Schedule, ScheduleRun

from .backup_helpers import make_backup, own_storage  # noqa: F401 (fixture)
from .builders import make_sqlite
from .health_helpers import FAILING_TARGET, OK_TARGET, STALE_TARGET, seed
from .live import LiveServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_storage")]

UTC = dt_timezone.utc


def at(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_schedule_whose_last_two_slots_passed_without_a_run_is_stale_once_then_resolved(alice):
    now = at("2026-11-30T09:05:00")
    every10 = Schedule.objects.create(name="ten", target="books", cron="*/10 * * * *", created_at=now - timedelta(hours=2))
    Schedule.objects.create(name="paused", target="books", cron="*/10 * * * *", created_at=now - timedelta(hours=2),
                            enabled=False)
    Schedule.objects.create(name="young", target="books", cron="*/10 * * * *", created_at=now - timedelta(minutes=12))
    # The slot of 09:00 has passed (grace of a minute), and 08:50 before it: nothing succeeded since 08:50.
    assert service.passed_slots("*/10 * * * *", "UTC", now) == [at("2026-11-30T09:00:00"), at("2026-11-30T08:50:00")]
    # A slot that came due seconds ago is not counted yet: the tick and the queue get their minute.
    assert service.passed_slots("*/10 * * * *", "UTC", at("2026-11-30T09:00:30"))[0] == at("2026-11-30T08:50:00")
    facts = {f.name: f for f in service.schedule_facts(now=now)}
    assert facts["ten"].stale and not facts["paused"].stale and not facts["young"].stale
    assert facts["ten"].next_run == at("2026-11-30T09:10:00") and facts["paused"].next_run is None

    alerts.check_stale(now)
    alerts.check_stale(now + timedelta(minutes=1))
    alert = Alert.objects.get()
    assert (alert.key, alert.kind, alert.count, alert.state) == (f"stale:schedule:{every10.id}", "stale", 2, "open")
    assert alert.message == "The schedule ten of books is stale: its last two runs did not make a backup."
    assert Notification.objects.filter(outcome="alert", username="alice").count() == 1

    # A run that failed does not help; one that succeeded (in the latest slot) does.
    ScheduleRun.objects.create(schedule=every10, slot="2026-11-30T08:50", due_at=at("2026-11-30T08:50:00"),
                               status="failed")
    assert [f.stale for f in service.schedule_facts(now=now, target="books") if f.name == "ten"] == [True]
    ScheduleRun.objects.create(schedule=every10, slot="2026-11-30T09:00", due_at=at("2026-11-30T09:00:00"),
                               status="succeeded")
    alerts.check_stale(now)
    alerts.check_stale(now)
    alert.refresh_from_db()
    assert alert.state == "resolved"
    assert list(AlertEvent.objects.values_list("event", flat=True)) == ["opened", "resolved"]
    assert Notification.objects.filter(outcome="resolved", username="alice").get().rendered_sentence() == (
        "The schedule ten of books made a backup again.")
    # Two more slots pass with no run: stale again, a new "opened" (and the young schedule is old enough now).
    later = now + timedelta(minutes=30)
    alerts.check_stale(later)
    assert list(alert.events.values_list("event", flat=True)) == ["opened", "resolved", "opened"]
    assert Alert.objects.filter(state="open").count() == 2
    # A schedule in another time zone reads its slots there.
    assert service.passed_slots("30 2 * * *", "Europe/Berlin", at("2026-11-30T09:00:00"))[0] == at(
        "2026-11-30T01:30:00")


def test_a_failed_verification_alerts_and_a_passing_one_resolves(tmp_path, settings, alice):
    from dbkeeper.backups import verification
    from dbkeeper.operations import runner

    db = tmp_path / "notes.sqlite3"
    make_sqlite(db, rows=20)
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {"notes": f"sqlite:///{db}"}}

    def verify(backup_id):
        op = verification.record(verification.plan_verify(backup_id))
        runner.run(op.id)
        op.refresh_from_db()
        return op

    good, bad = (Backup.objects.get(pk=make_backup("notes").backup_id) for _ in range(2))
    path = get_storage(bad.storage).path(bad.storage_name)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert verify(bad.id).status == "failed"
    assert verify(bad.id).status == "failed"
    alert = Alert.objects.get()
    assert (alert.key, alert.kind, alert.target, alert.count) == ("verify_failed:notes", "verify_failed", "notes", 2)
    assert alert.message.startswith(f"The verification of the backup {bad.name} of notes failed: The stored file has "
                                    "changed since the backup was made")
    overview = service.overview(alice)
    assert overview["health"] == "failing" and overview["exit_code"] == 2
    assert verify(good.id).status == "succeeded"
    alert.refresh_from_db()
    assert alert.state == "resolved"
    assert list(AlertEvent.objects.values_list("event", flat=True)) == ["opened", "resolved"]
    row = service.overview(alice)["targets"][0]
    assert row["health"] == "ok" and row["last_verified"]["id"] == good.id and row["backups"] == 2


def test_the_health_api_shows_the_overview_to_staff_only(alice, django_user_model):
    now = timezone.now()
    seed(now)
    client = Client()
    assert client.get("/api/health/").status_code == 401
    django_user_model.objects.create_user("visitor", password="pw-visitor")
    visitor = Client()
    visitor.login(username="visitor", password="pw-visitor")
    assert visitor.get("/api/health/").status_code == 403
    client.login(username="alice", password="pw-alice")
    assert client.post("/api/health/").status_code == 405

    data = client.get("/api/health/").json()
    assert data["health"] == "failing" and data["exit_code"] == 2
    rows = {t["target"]: t for t in data["targets"]}
    assert sorted(rows) == [OK_TARGET, STALE_TARGET, FAILING_TARGET]
    assert [rows[n]["health"] for n in (OK_TARGET, STALE_TARGET, FAILING_TARGET)] == ["ok", "stale", "failing"]
    ok = rows[OK_TARGET]
    assert ok["problems"] == [] and ok["last_backup"]["age_seconds"] == 3600
    assert ok["last_verified"]["age_seconds"] == 1800
    assert ok["next_run"] and datetime.fromisoformat(ok["next_run"]) > now
    assert len(ok["runs"]) == 60 and ok["runs"][0]["created_at"] < ok["runs"][-1]["created_at"]
    assert ok["backups"] == 97 and ok["total_size"] == sum(b.size for b in Backup.objects.filter(target_spec=OK_TARGET))
    days = ok["calendar"]
    assert len(days) == 90 and days[-1]["date"] == timezone.localdate(now).isoformat()
    assert len([d for d in days if d["backups"]]) in (86, 87)  # 3 gap days (one more if the run is before midnight)
    # Why each day's backup is kept comes from the retention planner, under the schedule's policy.
    today = days[-1]
    assert today["kept"] == 1 and today["reasons"][:2] == ["newest verified", f"daily {today['date']}"]
    assert today["reasons"][2:] == [f"weekly {datetime.fromisoformat(today['date']).strftime('%G-W%V')}"]
    kept = [d for d in days if d["kept"]]
    assert 30 < len(kept) < 40 and any(r.startswith("weekly 2026-W") for d in kept for r in d["reasons"])
    assert any(d["reasons"][0] == "pinned" for d in kept)
    dropped = [d for d in days if d["backups"] and not d["kept"]]
    assert dropped and all(d["reasons"] == ["no rule keeps it"] for d in dropped)
    assert rows[STALE_TARGET]["problems"] == [
        f"The schedule {STALE_TARGET}-nightly is stale: its last two runs did not make a backup."]
    assert rows[FAILING_TARGET]["alerts"][0]["kind"] == "backup_failed"
    assert "connection refused" in rows[FAILING_TARGET]["problems"][0]

    one = client.get(f"/api/health/?target={STALE_TARGET}").json()
    assert [t["target"] for t in one["targets"]] == [STALE_TARGET] and one["exit_code"] == 1
    unknown = client.get("/api/health/?target=nope")
    assert unknown.status_code == 400 and unknown.json()["error"] == {
        "code": "target_unknown", "message": "There is no target named nope."}


def test_the_dashboard_draws_badges_charts_and_calendar_and_mirrors_them_in_arabic(alice):
    seed()
    client = Client()
    client.login(username="alice", password="pw-alice")
    page = client.get("/dashboard/").content.decode()
    assert page.count('class="badge health-ok"') == 1 and 'class="badge health-failing"' in page
    assert 'class="badge health-stale"' in page
    assert page.count('<svg class="chart sizes"') == 3 and page.count('<svg class="calendar"') == 3
    sizes = re.search(r'<svg class="chart sizes".*?</svg>', page, re.S).group(0)
    assert sizes.count('<rect class="chart-bar"') == 60 and 'data-direction="ltr"' in sizes
    first = float(re.search(r'data-index="0" x="([0-9.]+)"', sizes).group(1))
    assert first < 10  # oldest on the left
    assert "<script" not in sizes and "style=" not in page.split("<main>")[1]

    client.post("/language/", {"language": "ar", "next": "/dashboard/"})
    arabic = client.get("/dashboard/").content.decode()
    assert 'dir="rtl"' in arabic
    sizes = re.search(r'<svg class="chart sizes".*?</svg>', arabic, re.S).group(0)
    assert 'data-direction="rtl"' in sizes
    assert float(re.search(r'data-index="0" x="([0-9.]+)"', sizes).group(1)) > 290  # oldest on the right
    calendar = re.search(r'<svg class="calendar".*?</svg>', arabic, re.S).group(0)
    xs = [int(x) for x in re.findall(r'<rect class="cal-day cal-[a-z]+" data-date="[^"]+" data-backups="\d+" x="(\d+)"',
                                     calendar)]
    assert len(xs) == 90 and xs[0] > xs[-1] == 0


def test_status_exits_0_1_2_for_monitoring(tmp_path):
    server = LiveServer(tmp_path / "data")
    server.cli("migrate")
    empty = server.cli("status", check=False)
    assert empty.returncode == 0 and "No targets configured yet" in empty.stdout
    server.python("from tests.health_helpers import seed\nseed()\n")

    every = server.cli("status", "--json", check=False)
    assert every.returncode == 2, every.stderr
    data = json.loads(every.stdout)
    assert {t["target"]: t["health"] for t in data["targets"]} == {
        OK_TARGET: "ok", STALE_TARGET: "stale", FAILING_TARGET: "failing"}
    assert server.cli("status", "--target", STALE_TARGET, check=False).returncode == 1
    ok = server.cli("status", "--target", OK_TARGET, check=False)
    assert ok.returncode == 0 and OK_TARGET in ok.stdout and "never" not in ok.stdout.split(OK_TARGET)[1][:40]
    text = server.cli("status", check=False)
    assert text.returncode == 2 and "connection refused" in text.stdout and f"{STALE_TARGET}-nightly is stale" in text.stdout
    unknown = server.cli("status", "--target", "nope", check=False)
    assert unknown.returncode == 3 and "There is no target named nope." in unknown.stderr and unknown.stdout == ""
