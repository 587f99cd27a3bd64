"""Schedules on the real server (web, a worker with two threads, and two
watchdogs ticking every second, the second one started by mistake): a slot due while both worker threads run long
restores is recorded on time as queued, not missed, and runs once they end;
and in Chromium, a schedule created on the page (its next run times shown
before saving) is seen running, in English and in Arabic."""

import json
import time
from datetime import datetime, timezone

import pytest
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import expect

from .browser import login
from .builders import dump_custom, make_sqlite
from .conftest import UPLOADER, UPLOADER_PASSWORD
from .live import start_live_server, wait_for
from .pgsources import build_slow_source

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def ticking_site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ticking")
    server = start_live_server(folder / "data", UPLOADER, UPLOADER_PASSWORD, everything=True,
                               DBKEEPER_SCHEDULE_TICK_SECONDS="1")
    db = make_sqlite(str(folder / "notes.sqlite3"), rows=50)
    server.cli("target", "add", "notes", f"sqlite:///{db}")
    # A second ticking process started by mistake: it must not double any slot.
    server.start_watchdog("second-watchdog")
    yield server
    server.stop_all()


def runs(server, name):
    return json.loads(server.cli("schedule", "runs", name, "--json").stdout)


def wait_for_second(low, high):
    """Until the wall clock's second is in [low, high) (so that the next minute is near)."""
    wait_for(lambda: low <= datetime.now(timezone.utc).second < high, 70, f"second {low}-{high}")


def test_a_slot_due_while_both_workers_run_long_restores_is_queued_on_time(ticking_site, pg, tmp_path):
    server = ticking_site
    build_slow_source(pg, "sched_slow", rows=25000)  # about 40 s to restore
    dump = dump_custom(pg, "sched_slow", tmp_path / "slow.dump")
    pg.drop_db("sched_slow")
    for name in ("sched_r1", "sched_r2"):
        pg.drop_db(name)
        pg.create_db(name)
    try:
        wait_for_second(35, 45)
        restores = [server.start_restore(dump, pg.url(name)) for name in ("sched_r1", "sched_r2")]
        wait_for(lambda: all(server.fast_state(op)["status"] == "running" for op in restores), 30,
                 "both worker threads restoring")
        added = json.loads(server.cli("schedule", "add", "busy", "--target", "notes", "--cron", "* * * * *",
                                      "--timezone", "UTC", "--json").stdout)
        due = datetime.fromisoformat(added["next_times"][0])
        slot = due.strftime("%Y-%m-%dT%H:%M")
        # The tick records the slot, then starts its backup: wait for both.
        run = wait_for(lambda: next((r for r in runs(server, "busy") if r["slot"] == slot and r["operation_id"]), None),
                       (due - datetime.now(timezone.utc)).total_seconds() + 20, "the slot recorded and started")
        # Recorded on time while the restores still hold both worker threads: queued, not missed.
        assert all(server.fast_state(op)["status"] == "running" for op in restores), "a restore ended too soon"
        assert run["status"] == "queued", run
        late = datetime.fromisoformat(run["recorded_at"]) - datetime.fromisoformat(run["due_at"])
        assert late.total_seconds() < 10, late
        assert server.fast_state(run["operation_id"])["status"] == "queued"
        # Once the restores end, the worker takes the backup and the run follows it.
        for op in restores:
            server.cli("cancel", op)
        done = wait_for(lambda: next((r for r in runs(server, "busy") if r["slot"] == slot
                                      and r["status"] in ("succeeded", "failed")), None), 90, "the backup")
        assert done["status"] == "succeeded" and done["backup_id"], done
        backups = json.loads(server.cli("backups", "--json").stdout)
        assert [b["origin"] for b in backups if b["id"] == done["backup_id"]] == [f"schedule:{added['id']}"]
        # Exactly once: each slot recorded once, never more than one run of it.
        slots = [r["slot"] for r in runs(server, "busy")]
        assert len(slots) == len(set(slots))
    finally:
        server.cli("schedule", "remove", "busy", check=False)
        for name in ("sched_r1", "sched_r2"):
            pg.drop_db(name)


@pytest.mark.parametrize("locale", ["en-US", "ar"])
def test_a_schedule_created_on_the_page_shows_its_next_times_and_runs(ticking_site, browser, locale):
    server = ticking_site
    name = f"page-{locale}"
    context = browser.new_context(locale=locale, viewport={"width": 360, "height": 800})
    page = context.new_page()
    base = server.url("")
    try:
        login(page, base, "/schedules/")
        expect(page.locator("html")).to_have_attribute("dir", "rtl" if locale == "ar" else "ltr")
        expect(page.locator("#nav-schedules")).to_have_attribute("href", "/schedules/")
        # A bad expression says why before anything is saved.
        page.fill("#s-cron", "61 * * * *")
        expect(page.locator("#schedule-preview-title")).to_contain_text("61 * * * *")
        expect(page.locator("#schedule-next-times li")).to_have_count(0)
        page.fill("#s-name", name)
        page.select_option("#s-target", "notes")
        page.fill("#s-timezone", "UTC")
        page.fill("#s-cron", "* * * * *")
        expect(page.locator("#schedule-next-times li.next-time")).to_have_count(5)
        page.fill("#s-keep-daily", "7")
        wait_for_second(5, 40)  # its first run well after the page shows the schedule
        page.click("#schedule-save")
        row = page.locator("#schedules li.schedule", has_text=name)
        expect(row).to_have_count(1)
        expect(row.locator(".next-run")).not_to_be_empty()
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, (scroll, inner)
        # It runs at the next minute; the list, read again every few seconds, shows it.
        expect(row.locator('.last-run[data-status="succeeded"]')).to_have_count(1, timeout=120_000)
        done = runs(server, name)
        assert any(r["status"] == "succeeded" for r in done)
        # Two ticking watchdogs, yet one run per slot and one backup per run.
        assert len({r["slot"] for r in done}) == len(done)
        schedule_id = json.loads(server.cli("schedule", "list", "--json").stdout)
        schedule_id = next(s["id"] for s in schedule_id if s["name"] == name)
        made = [b for b in json.loads(server.cli("backups", "--json").stdout) if b["origin"] == f"schedule:{schedule_id}"]
        assert len(made) == len({r["backup_id"] for r in done if r["status"] == "succeeded"})
        # Paused from the page: the list says so.
        row.locator("button.toggle").click()
        with translation.override("ar" if locale == "ar" else "en"):
            resume = gettext("Resume")
        expect(row.locator("button.toggle")).to_have_text(resume)
    finally:
        context.close()
        server.cli("schedule", "remove", name, check=False)
