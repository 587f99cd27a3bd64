"""The Databases page in Debian's Chromium against the real server (web,
worker, watchdog): the list, create, duplicate with a session open on the
source (the warning names the count), rename, drop with its safety backup,
undo a restore and undo the undo, create one from a stored backup; each leaves the databases and data the
test expects (checksums). The page fits a phone's width, in Arabic too."""

import pytest
from playwright.sync_api import expect

from .browser import login
from .builders import dump_custom, make_pg_source
from .conftest import add_pg_target
from .database_helpers import drop_leftovers, snap

pytestmark = pytest.mark.timeout(300)

NAMES = ("dbb_shop", "dbb_new", "dbb_renamed", "dbb_dup", "dbb_src", "dbb_frombk")


def row(page, name):
    return page.locator(f'li.database[data-name="{name}"]')


def ended(page, text=None):
    status = page.locator('#databases-status[data-outcome]')
    expect(status).to_have_attribute("data-outcome", "succeeded", timeout=90_000)
    if text:
        expect(status).to_contain_text(text)


def undo_restore(page, name):
    """Put the database's one pre-restore copy back in its place, its name typed."""
    copy = row(page, name).locator("li.copy")
    expect(copy).to_have_count(1)
    copy.locator("button.open-undo").click()
    copy.locator(".form-undo input.typed").fill(name)
    copy.locator("button.go-undo").click()
    ended(page, f"is back in place of {name}")


@pytest.fixture
def clean(pg):
    for name in NAMES:
        pg.drop_db(name)
    yield
    drop_leftovers(pg, NAMES, "dbb_shop", "dbb_frombk")


def test_manage_databases_from_the_page(working_site, pg, browser, tmp_path, clean):
    server = working_site
    make_pg_source(pg, "dbb_shop", rows=500, value="live")
    original = snap(pg, "dbb_shop")
    add_pg_target(server, pg, "dbb", "dbb_shop")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    base = server.url("")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        login(page, base, "/databases/")
        expect(page.locator("#nav-databases")).to_have_attribute("href", "/databases/")
        shop = row(page, "dbb_shop")
        expect(shop).to_contain_text("Database of the target dbb")
        expect(shop).to_contain_text("No backup yet")
        expect(row(page, "postgres")).to_contain_text("Read-only")
        expect(row(page, "postgres").locator("button")).to_have_count(0)

        # Create an empty database.
        page.select_option("#c-target", "dbb")
        page.fill("#c-name", "dbb_new")
        page.click("#create-button")
        ended(page, "Done.")
        expect(row(page, "dbb_new")).to_be_visible()
        assert snap(pg, "dbb_new") == {}

        # Duplicate with a session open on the source: the warning names the count, then it ends it.
        session = pg.connect("dbb_shop")
        try:
            shop.locator("button.open-duplicate").click()
            shop.locator(".form-duplicate input.new-name").fill("dbb_dup")
            shop.locator("button.go-duplicate").click()
            warning = shop.locator(".sessions-warning")
            expect(warning).to_contain_text("1 other session is connected to dbb_shop")
            warning.locator("button.end-sessions").click()
            ended(page, "dbb_shop was copied as dbb_dup")
        finally:
            session.close()
        assert snap(pg, "dbb_dup") == original
        expect(row(page, "dbb_dup")).to_be_visible()

        # Rename.
        new = row(page, "dbb_new")
        new.locator("button.open-rename").click()
        new.locator(".form-rename input.new-name").fill("dbb_renamed")
        new.locator("button.go-rename").click()
        ended(page, "Done.")
        expect(row(page, "dbb_renamed")).to_be_visible()
        assert "dbb_new" not in pg.databases() and "dbb_renamed" in pg.databases()

        # Drop, with its safety backup (ticked by default), after the name was typed.
        dup = row(page, "dbb_dup")
        dup.locator("button.open-drop").click()
        go = dup.locator("button.go-drop")
        expect(go).to_be_disabled()
        dup.locator(".form-drop input.typed").fill("dbb_dup")
        expect(go).to_be_enabled()
        go.click()
        ended(page, "dbb_dup was dropped; its safety backup is bk_")
        assert "dbb_dup" not in pg.databases()
        assert list((server.data_dir / "backups").rglob("dbb_dup_*.dump"))

        # Undo a restore: a restore of other data first, by the worker.
        make_pg_source(pg, "dbb_src", rows=70, value="restored")
        dump_custom(pg, "dbb_src", tmp_path / "restored.dump")
        op_id = server.python(
            "from dbkeeper.operations import service\n"
            f"print(service.start_restore({str(tmp_path / 'restored.dump')!r}, 'dbb', confirm='dbb').operation.id)"
        ).strip().splitlines()[-1]
        for _ in range(180):
            if server.fast_state(op_id).get("status") in ("succeeded", "failed"):
                break
            page.wait_for_timeout(500)
        assert server.fast_state(op_id)["status"] == "succeeded"
        restored = snap(pg, "dbb_shop")
        assert restored == snap(pg, "dbb_src") != original
        page.reload()
        undo_restore(page, "dbb_shop")
        assert snap(pg, "dbb_shop") == original

        # ... and undo the undo: the restored data comes back.
        undo_restore(page, "dbb_shop")
        assert snap(pg, "dbb_shop") == restored

        # Create a database from a stored backup: the safety backup of dbb_dup, which held the original data.
        page.reload()
        option = page.locator("#b-backup option", has_text="dbb_dup_")
        expect(option).to_have_count(1)
        page.select_option("#b-target", "dbb")
        page.fill("#b-name", "dbb_frombk")
        page.select_option("#b-backup", option.get_attribute("value"))
        page.click("#from-backup-button")
        ended(page, "The database dbb_frombk was created from")
        expect(row(page, "dbb_frombk")).to_be_visible()
        assert snap(pg, "dbb_frombk") == original
        assert snap(pg, "dbb_shop") == restored  # nothing else was touched
        assert not [db for db in pg.databases() if "__dbk_scratch_" in db]
        # The same name again is refused with a sentence, and nothing changes.
        page.fill("#b-name", "dbb_frombk")
        page.select_option("#b-backup", option.get_attribute("value"))
        page.click("#from-backup-button")
        refused = page.locator("#databases-status[data-outcome='refused']")
        expect(refused).to_contain_text("already exists")
        assert snap(pg, "dbb_frombk") == original
        # The form, with a backup's long name in its list, fits a phone's width.
        page.set_viewport_size({"width": 360, "height": 800})
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, f"the page is {scroll} px wide in a {inner} px window"
        assert not [e for e in errors if "409" not in e and "400" not in e], errors
    finally:
        context.close()


@pytest.mark.parametrize("locale", ["en-US", "ar"])
def test_the_page_fits_a_phone_in_both_languages(working_site, pg, browser, locale, clean):
    make_pg_source(pg, "dbb_shop", rows=10)
    add_pg_target(working_site, pg, f"dbb_{locale[:2]}", "dbb_shop")
    context = browser.new_context(locale=locale, viewport={"width": 360, "height": 800})
    page = context.new_page()
    try:
        login(page, working_site.url(""), "/databases/")
        expect(row(page, "dbb_shop")).to_be_visible()
        row(page, "dbb_shop").locator("button.open-drop").click()
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, f"the page is {scroll} px wide in a {inner} px window"
        if locale == "ar":
            assert page.evaluate("document.documentElement.dir") == "rtl"
    finally:
        context.close()
