"""The dashboard in Debian's Chromium against the real web server: signing
in lands on it; each target's coloured badge, the size and duration charts
and the 90-day calendar, in English and in Arabic (right to left: the
charts' time axis mirrored), at 360 px without sideways scrolling."""

import pytest
from playwright.sync_api import expect

from .health_helpers import FAILING_TARGET, OK_TARGET, STALE_TARGET
from .live import start_live_server

pytestmark = pytest.mark.timeout(300)

USER, USER_PASSWORD = "dana", "dana-Pw-4410"
COLOURS = {"ok": "rgb(26, 127, 55)", "stale": "rgb(154, 103, 0)", "failing": "rgb(207, 34, 46)"}  # health.css
LANGUAGES = {"en": "en-US", "ar": "ar"}
DROPPED = "rgb(212, 167, 44)"  # health.css: a day whose backups the next prune deletes


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    server = start_live_server(tmp_path_factory.mktemp("health") / "data", USER, USER_PASSWORD)
    server.python("from tests.health_helpers import seed\nseed()\n")
    yield server
    server.stop_all()


@pytest.mark.parametrize("width", [360, 1280])
@pytest.mark.parametrize("language", list(LANGUAGES))
def test_dashboard_badges_charts_and_calendar(site, browser, language, width):
    context = browser.new_context(locale=LANGUAGES[language], viewport={"width": width, "height": 900})
    page = context.new_page()
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    base = site.url("").rstrip("/")
    try:
        page.goto(f"{base}/login/")
        page.fill("#id_username", USER)
        page.fill("#id_password", USER_PASSWORD)
        page.click("#login-button")
        page.wait_for_url(f"{base}/dashboard/")  # signing in lands on the dashboard
        assert page.evaluate("document.documentElement.dir") == ("rtl" if language == "ar" else "ltr")
        expect(page.locator("#nav-dashboard")).to_be_visible()
        for link in ("/backups/", "/operations/"):  # the other pages stay a click away
            expect(page.locator(f'.mainnav a[href="{link}"]')).to_have_count(1)

        for name, health in ((OK_TARGET, "ok"), (STALE_TARGET, "stale"), (FAILING_TARGET, "failing")):
            card = page.locator(f'.health-card[data-target="{name}"]')
            badge = card.locator(".badge")
            expect(badge).to_be_visible()
            assert badge.evaluate("(b) => getComputedStyle(b).backgroundColor") == COLOURS[health]
            assert card.get_attribute("data-health") == health
        card = page.locator(f'.health-card[data-target="{OK_TARGET}"]')
        if language == "en":
            expect(card.locator(".badge")).to_have_text("OK")
            expect(card.locator(".last-backup")).to_contain_text("1\u00a0hour ago")
            expect(page.locator(f'.health-card[data-target="{FAILING_TARGET}"] .problems')).to_contain_text(
                "connection refused")
            # The in-app alert waits for the staff at the top of the page.
            expect(page.locator("#notifications")).to_contain_text(
                f"The scheduled backup {FAILING_TARGET}-nightly of {FAILING_TARGET} failed")

        sizes = card.locator("svg.chart.sizes")
        expect(sizes).to_be_visible()
        expect(sizes.locator("rect.chart-bar")).to_have_count(60)
        expect(card.locator("svg.chart.durations rect.chart-bar")).to_have_count(60)
        box = sizes.bounding_box()
        assert box["width"] > 200 and box["height"] > 30
        oldest = sizes.locator('rect.chart-bar[data-index="0"]').bounding_box()
        newest = sizes.locator('rect.chart-bar[data-index="59"]').bounding_box()
        if language == "ar":
            assert oldest["x"] > newest["x"]  # read from the right
        else:
            assert oldest["x"] < newest["x"]
        # The newest run is the largest (the seed grows them): its bar is the tallest.
        assert newest["height"] > oldest["height"] * 1.3

        calendar = card.locator("svg.calendar")
        expect(calendar).to_be_visible()
        expect(calendar.locator("rect.cal-day")).to_have_count(90)
        assert 86 <= calendar.locator('rect.cal-day:not([data-backups="0"])').count() <= 87
        kept = calendar.locator("rect.cal-day.cal-kept")
        assert 30 < kept.count() < 40
        assert kept.first.evaluate("(r) => getComputedStyle(r).fill") == COLOURS["ok"]
        dropped = calendar.locator("rect.cal-day.cal-dropped")
        assert dropped.count() > 40 and dropped.first.evaluate("(r) => getComputedStyle(r).fill") == DROPPED
        if language == "en":  # why, in each day's tooltip (retention's reasons)
            tooltip = kept.last.locator("title").text_content()
            assert tooltip.startswith(tooltip[:10] + ": newest verified; daily " + tooltip[:10] + "; weekly "), tooltip
            assert dropped.first.locator("title").text_content().endswith(
                ": the next prune deletes it (no rule keeps it)")
        first_day = calendar.locator("rect.cal-day").first.bounding_box()
        last_day = calendar.locator("rect.cal-day").last.bounding_box()
        assert (first_day["x"] > last_day["x"]) == (language == "ar")

        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, f"the dashboard is {scroll} px wide in a {inner} px window"
        assert not problems, problems
    finally:
        context.close()
