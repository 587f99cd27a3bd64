"""Schedules, with a simulated clock: cron checks, exactly once, skipped,
missed after downtime, daylight saving, per-server concurrency, spreading."""

import threading

import pytest

from dbkeeper.backups.models import Backup
from dbkeeper.errors import DbkeeperError
from dbkeeper.operations.models import Operation
from dbkeeper.schedules import cron, service
from dbkeeper.schedules.models import Schedule, ScheduleRun
from dbkeeper.schedules.tick import tick

from .schedule_helpers import at, minute, run_queued, sqlite_targets  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def add(name, target, cron_expr="* * * * *", now=None, **more):
    return service.create_schedule({"name": name, "target": target, "cron": cron_expr, "timezone": "UTC", **more},
                                   now=now)


def runs(schedule):
    return {r.slot: r.status for r in ScheduleRun.objects.filter(schedule=schedule)}


@pytest.mark.parametrize("expr,code", [("", "invalid_cron"), ("* * * *", "invalid_cron"),
                                        ("* * * * * *", "invalid_cron"), ("61 * * * *", "invalid_cron"),
                                        ("a b c d e", "invalid_cron")])
def test_bad_cron_is_refused_with_a_sentence_and_nothing_saved(sqlite_targets, expr, code):
    with pytest.raises(DbkeeperError) as err:
        add("nightly", "t0", expr)
    assert err.value.code == code and "cron" in err.value.message
    assert Schedule.objects.count() == 0


@pytest.mark.parametrize("data,code", [
    ({"timezone": "Mars/Base"}, "invalid_timezone"),
    ({"target": "nope"}, "target_unknown"),
    ({"name": ""}, "name_required"),
    ({"format": "tarball"}, "bad_format"),
    ({"format": "pg_custom"}, "bad_format"),
    ({"storage": "tape"}, "unknown_storage"),
    ({"encrypt": True}, "encryption_unavailable"),
    ({"encrypt": "yes"}, "invalid_schedule"),
    ({"verify_every": -1}, "invalid_schedule"),
    ({"retention": {"keep_daily": "7"}}, "invalid_schedule"),
    ({"retention": {"keep_within": "30 days"}}, "invalid_schedule"),
    ({"retention": {"keep_forever": 1}}, "invalid_schedule"),
    ({"colour": "red"}, "invalid_schedule"),
])
def test_bad_fields_are_refused_and_nothing_saved(sqlite_targets, data, code):
    with pytest.raises(DbkeeperError) as err:
        service.create_schedule({"name": "nightly", "target": "t0", "cron": "0 3 * * *", **data})
    assert err.value.code == code, err.value.message
    assert Schedule.objects.count() == 0


def test_a_good_schedule_is_saved_with_its_next_five_times(sqlite_targets):
    now = minute("2026-11-30T10:07")
    schedule = add("nightly", "t0", "0 3 * * *", now=now, retention={"keep_daily": 7, "keep_within": "1y2m"},
                   verify_every=3)
    assert schedule.timezone == "UTC" and schedule.next_slot == "2026-12-01T03:00"
    assert [t.isoformat() for t in service.next_times(schedule, now)] == [
        f"2026-12-0{d}T03:00:00+00:00" for d in range(1, 6)]
    times = service.preview({"cron": "30 1 * * 0", "timezone": "Europe/Paris"}, now=now)
    assert [t.isoformat() for t in times][:2] == ["2026-12-06T01:30:00+01:00", "2026-12-13T01:30:00+01:00"]
    with pytest.raises(DbkeeperError):
        add("nightly", "t1", "0 4 * * *")


def test_every_slot_runs_exactly_once_with_two_ticks_and_three_consumers(sqlite_targets):
    start = minute("2026-11-30T10:00")
    schedules = [add(f"s{i}", name, now=at(start, seconds=-30)) for i, name in enumerate(sqlite_targets)]
    for m in range(10):
        now = at(start, minutes=m, seconds=1)
        # Two overlapping ticks of the same minute (a second ticking process started by mistake).
        ticks = [threading.Thread(target=tick, args=(at(now, seconds=s),)) for s in (0, 2)]
        for t in ticks:
            t.start()
        for t in ticks:
            t.join()
        run_queued(consumers=3)
    tick(at(start, minutes=10))  # follow the last ones
    slots = [f"2026-11-30T10:{m:02d}" for m in range(10)]
    for schedule in schedules:
        assert runs(schedule) == {**{s: "succeeded" for s in slots}, "2026-11-30T10:10": "queued"}
    assert Backup.objects.count() == 50
    # One backup operation per run that started, none twice.
    started = list(ScheduleRun.objects.exclude(operation_id="").values_list("operation_id", flat=True))
    assert len(started) == len(set(started)) == 55
    assert Operation.objects.filter(kind="backup").count() == 55
    assert {b.origin for b in Backup.objects.all()} == {f"schedule:{s.id}" for s in schedules}


def test_a_run_whose_previous_one_is_still_going_is_skipped(sqlite_targets):
    start = minute("2026-11-30T10:00")
    schedule = add("s", "t0", now=at(start, seconds=-30))
    tick(at(start, seconds=5))
    tick(at(start, minutes=1, seconds=5))  # the 10:00 backup is still queued: nobody ran it
    run_queued()
    tick(at(start, minutes=2, seconds=5))
    assert runs(schedule) == {"2026-11-30T10:00": "succeeded", "2026-11-30T10:01": "skipped",
                              "2026-11-30T10:02": "queued"}
    skipped = ScheduleRun.objects.get(slot="2026-11-30T10:01")
    assert "still going" in skipped.rendered_message()


def test_after_downtime_only_the_latest_slot_runs_and_the_others_are_missed(sqlite_targets):
    start = minute("2026-11-30T10:00")
    schedule = add("s", "t0", "*/10 * * * *", now=at(start, seconds=-30))
    tick(at(start, seconds=3))
    run_queued()
    # Nothing ticks from 10:01 to 10:35: slots 10:10, 10:20 and 10:30 pass.
    result = tick(at(start, minutes=35))
    assert result.queued == [(schedule.id, "2026-11-30T10:30")]
    assert runs(schedule) == {"2026-11-30T10:00": "succeeded", "2026-11-30T10:10": "missed",
                              "2026-11-30T10:20": "missed", "2026-11-30T10:30": "queued"}
    assert len(result.started) == 1
    tick(at(start, minutes=36))
    assert ScheduleRun.objects.filter(schedule=schedule).count() == 4


def test_daylight_saving_back_at_0130_runs_once(sqlite_targets):
    # America/New_York, 2026-11-01: 01:59 EDT is followed by 01:00 EST; 01:30 happens twice.
    schedule = service.create_schedule({"name": "s", "target": "t0", "cron": "30 1 * * *",
                                        "timezone": "America/New_York"}, now=minute("2026-10-31T12:00"))
    started = 0
    for m in range(0, 6 * 60):  # 04:00 to 10:00 UTC, every minute
        started += len(tick(at(minute("2026-11-01T04:00"), minutes=m)).started)
        run_queued()
    assert runs(schedule) == {"2026-11-01T01:30": "succeeded"} and started == 1
    run = ScheduleRun.objects.get()
    assert run.due_at == minute("2026-11-01T05:30")  # the first 01:30 (EDT)


def test_daylight_saving_forward_at_0230_runs_once_at_0300(sqlite_targets):
    # Europe/Paris, 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 never happens.
    schedule = service.create_schedule({"name": "s", "target": "t0", "cron": "30 2 * * *",
                                        "timezone": "Europe/Paris"}, now=minute("2026-03-28T12:00"))
    assert schedule.next_due_at == minute("2026-03-29T01:00")  # 03:00 CEST
    assert not tick(minute("2026-03-29T00:59")).queued
    assert tick(minute("2026-03-29T01:00")).queued == [(schedule.id, "2026-03-29T02:30")]
    run_queued()
    for m in range(1, 120):
        tick(at(minute("2026-03-29T01:00"), minutes=m))
    assert runs(schedule) == {"2026-03-29T02:30": "succeeded"}


def test_at_most_n_backups_per_server(sqlite_targets, settings, pg, pg_dbname):
    start = minute("2026-11-30T10:00")
    # Three databases of one PostgreSQL server, all due at 10:00.
    names = [f"{pg_dbname}_{i}" for i in range(3)]
    for name in names:
        pg.drop_db(name)
        pg.create_db(name)
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {f"p{i}": pg.url(n) for i, n in enumerate(names)}}
    try:
        for i in range(3):
            add(f"p{i}", f"p{i}", "0 10 * * *", now=at(start, minutes=-5))
        first = tick(at(start, seconds=2))
        assert len(first.queued) == 3 and len(first.started) == 1  # one at a time on that server
        assert len(tick(at(start, seconds=20)).started) == 0  # the first still waits for a worker
        run_queued()
        assert len(tick(at(start, minutes=1)).started) == 1
        run_queued()
        assert len(tick(at(start, minutes=2)).started) == 1
        run_queued()
        # A per-server override lets two run together.
        settings.DBKEEPER = {**settings.DBKEEPER, "BACKUPS_PER_SERVER_OVERRIDES": {f"127.0.0.1:{pg.port}": 2}}
        add("again0", "p0", "5 10 * * *", now=at(start, minutes=2))
        add("again1", "p1", "5 10 * * *", now=at(start, minutes=2))
        assert len(tick(at(start, minutes=5)).started) == 2
        run_queued()
        tick(at(start, minutes=6))
        assert sorted(ScheduleRun.objects.values_list("status", flat=True)) == ["succeeded"] * 5
        assert {r.server for r in ScheduleRun.objects.all()} == {f"127.0.0.1:{pg.port}"}
    finally:
        for name in names:
            pg.drop_db(name)


def test_schedules_due_the_same_minute_start_over_the_following_minutes(sqlite_targets, settings):
    settings.DBKEEPER = {**settings.DBKEEPER, "SCHEDULE_STARTS_PER_MINUTE": 2}
    start = minute("2026-11-30T10:00")
    for i, name in enumerate(sqlite_targets):
        add(f"s{i}", name, "0 10 * * *", now=at(start, minutes=-5))
    assert len(tick(at(start, seconds=1)).started) == 2
    assert len(tick(at(start, seconds=30)).started) == 0
    assert len(tick(at(start, minutes=1, seconds=2)).started) == 2
    assert len(tick(at(start, minutes=2, seconds=3)).started) == 1


def test_every_second_successful_run_is_verified_and_each_success_is_handed_on_once(sqlite_targets, monkeypatch):
    handed = []
    monkeypatch.setattr(service, "after_successful_run", lambda run: handed.append(run.slot))
    start = minute("2026-11-30T10:00")
    schedule = add("s", "t0", now=at(start, seconds=-30), verify_every=2)
    for m in range(4):
        tick(at(start, minutes=m, seconds=1))
        tick(at(start, minutes=m, seconds=3))  # a second tick follows the same runs: nothing twice
        run_queued()
    tick(at(start, minutes=4, seconds=1))
    tick(at(start, minutes=4, seconds=2))
    run_queued()  # the last verification
    done = list(ScheduleRun.objects.filter(schedule=schedule, status="succeeded").order_by("due_at"))
    assert [r.slot[-5:] for r in done] == ["10:00", "10:01", "10:02", "10:03"]
    assert handed == [r.slot for r in done]
    verified = [r for r in done if r.verify_operation_id]
    assert [r.slot[-5:] for r in verified] == ["10:01", "10:03"]
    for run in verified:
        op = Operation.objects.get(pk=run.verify_operation_id)
        assert op.kind == "verify" and op.status == "succeeded", op.error_message
        assert Backup.objects.get(pk=run.backup_id).verification_outcome == "passed"


def test_a_paused_schedule_records_nothing_and_resumes_from_the_next_slot(sqlite_targets):
    start = minute("2026-11-30T10:00")
    schedule = add("s", "t0", now=at(start, seconds=-30))
    service.set_enabled(schedule.id, False, now=at(start, seconds=-10))
    for m in range(3):
        assert not tick(at(start, minutes=m, seconds=1)).queued
    service.set_enabled(schedule.id, True, now=at(start, minutes=2, seconds=30))
    assert tick(at(start, minutes=3, seconds=1)).queued == [(schedule.id, "2026-11-30T10:03")]
    assert list(ScheduleRun.objects.values_list("slot", flat=True)) == ["2026-11-30T10:03"]


def test_a_run_whose_target_was_removed_fails_with_a_sentence(sqlite_targets, settings):
    start = minute("2026-11-30T10:00")
    add("s", "t0", now=at(start, seconds=-30))
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {}}
    tick(at(start, seconds=2))
    run = ScheduleRun.objects.get()
    assert run.status == "failed" and "There is no target named" in run.rendered_message()
