"""Retention in Debian's Chromium against the real server, at 360 px, in
English and Arabic: the Backups page's Retention panel lists why each backup
is kept (and which the next prune deletes), and the restore page says how much
space the scratch copy and the kept pre-restore copies take; neither page
scrolls sideways."""

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .browser import login
from .builders import make_pg_source
from .live import start_live_server
from .pgserver import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "retention"
USER, USER_PASSWORD = "rita", "rita-Pw-4471"
TARGET = "retention_shop_with_a_long_target_name"
LANGUAGES = {"en": "en-US", "ar": "ar"}

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def site(tmp_path_factory, pg):
    server = start_live_server(tmp_path_factory.mktemp("retention") / "data", USER, USER_PASSWORD, everything=True)
    pg.drop_db("retention_shop")
    make_pg_source(pg, "retention_shop", rows=40, value="shop")
    server.cli("target", "add", TARGET, f"postgresql://postgres@127.0.0.1:{pg.port}/retention_shop",
               "--password-stdin", input=PASSWORD + "\n")
    for _ in range(3):
        server.cli("backup", TARGET)
    server.cli("retention", "set", TARGET, "--keep-last", "1", "--timezone", "Asia/Riyadh")
    yield server
    server.stop_all()
    pg.drop_db("retention_shop")


def fits(page, what):
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{what}: the page is {scroll} px wide in a {inner} px window"


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_retention_panel_and_restore_space_at_360_px(site, browser, language):
    backups = json.loads(site.cli("backups", "--json").stdout)
    newest = backups[0]["id"]
    context = browser.new_context(locale=LANGUAGES[language], viewport={"width": 360, "height": 800})
    page = context.new_page()
    base = site.url("").rstrip("/")
    try:
        login(page, base, "/backups/", USER, USER_PASSWORD)
        page.goto(f"{base}/backups/?target={TARGET}")
        panel = page.locator("#retention")
        expect(panel).to_be_visible()
        expect(panel.locator(".retention-row")).to_have_count(3)
        expect(panel.locator(".retention-row.kept")).to_have_count(1)
        expect(panel.locator(f'.retention-row[data-backup="{newest}"]')).to_have_class("retention-row kept")
        assert "--keep-last 1" in panel.inner_text() and "Asia/Riyadh" in panel.inner_text()
        if language == "ar":
            assert page.evaluate("document.documentElement.dir") == "rtl"
        fits(page, "backups")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        panel.screenshot(path=str(ARTIFACTS / f"retention-panel-{language}-360.png"))

        page.goto(f"{base}/")
        page.select_option("#target", TARGET)
        page.select_option("#backup", newest)
        space = page.locator("#restore-space")
        expect(space).to_be_visible()
        assert any(ch.isdigit() for ch in space.inner_text())
        fits(page, "restore")
        page.screenshot(path=str(ARTIFACTS / f"restore-space-{language}-360.png"), full_page=True)
    finally:
        context.close()
