"""Pages a new user looks at in Chromium, at 360 px, in English and Arabic:
the audit log with a target's long URL fits the window, and a danger button
reads as one (red on white, or white on red; never red on the accent's blue)."""

import pytest

from .conftest import add_pg_target

ROOT, ROOT_PASSWORD = "root", "root-Pw-8841"
BAD = "rgb(179, 38, 30)"  # --bad in dbkeeper.css
WHITE = "rgb(255, 255, 255)"

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("locale", ["en-US", "ar"])
def test_the_audit_log_fits_360_px_and_danger_buttons_read_as_such(fresh_web_server, pg, browser, locale):
    server = fresh_web_server
    server.create_user(ROOT, ROOT_PASSWORD, staff=True, superuser=True)
    target = add_pg_target(server, pg, "shop", "a_rather_long_database_name_for_the_audit_log")
    server.cli("schedule", "add", "nightly", "--target", target, "--cron", "0 3 * * *")
    context = browser.new_context(locale=locale, viewport={"width": 360, "height": 800})
    page = context.new_page()
    base = server.url("")
    try:
        page.goto(f"{base}/login/?next=/audit/")
        page.fill("#id_username", ROOT)
        page.fill("#id_password", ROOT_PASSWORD)
        page.click("#login-button")
        page.wait_for_url(f"{base}/audit/")
        assert page.locator(".audit .chip", has_text="a_rather_long_database_name").count() >= 1
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, f"the audit page is {scroll} px wide in a {inner} px window"

        page.goto(f"{base}/schedules/")
        remove = page.locator("button.remove")
        remove.wait_for()
        colours = remove.evaluate("(b) => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]")
        assert colours[0] == BAD and colours[1] != BAD, colours
        # A confirming danger button (drop, end the sessions, delete): white on red.
        confirm = page.evaluate("""() => { const b = document.createElement('button'); b.className = 'danger';
            b.textContent = 'x'; document.querySelector('main').append(b);
            const s = getComputedStyle(b); return [s.color, s.backgroundColor]; }""")
        assert confirm == [WHITE, BAD], confirm
    finally:
        context.close()
