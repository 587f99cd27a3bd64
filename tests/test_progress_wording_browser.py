"""The progress page of a copy, a drop and a database created from a backup,
in Debian's Chromium against the real server (web, worker, watchdog), in
English and in Arabic on a phone's width: each has its own heading, title and
ending (operations/wordings.py), reaches one final state, and says nothing of
a restore."""

import re

import pytest
from django.utils import translation
from playwright.sync_api import expect

from .builders import dump_custom, make_pg_source
from .conftest import UPLOADER, UPLOADER_PASSWORD, add_pg_target
from .database_helpers import drop_leftovers

pytestmark = pytest.mark.timeout(300)

NAMES = ("dbw_shop", "dbw_copy", "dbw_new")


def login(page, base, then):
    page.goto(f"{base}/login/?next={then}")
    page.fill("#id_username", UPLOADER)
    page.fill("#id_password", UPLOADER_PASSWORD)
    page.click("#login-button")
    page.wait_for_url(f"{base}{then}")


def start(server, code) -> str:
    """Start an operation as the staff user, server-side; its id."""
    out = server.python(
        "from django.contrib.auth import get_user_model\n"
        f"user = get_user_model().objects.get(username={UPLOADER!r})\n" + code + "\nprint(started.operation.id)"
    )
    return out.strip().splitlines()[-1]


def wait_end(server, op_id):
    import time

    for _ in range(240):
        state = server.fast_state(op_id)
        if state.get("status") in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.5)
    assert server.fast_state(op_id)["status"] == "succeeded", server.operation(op_id)


def words(language) -> dict:
    """Every kind's row as the page gets it in ``language``."""
    from dbkeeper.web.strings import js_strings

    with translation.override(language):
        return js_strings()["kinds"]


@pytest.fixture
def clean(pg):
    for name in NAMES:
        pg.drop_db(name)
    yield
    drop_leftovers(pg, NAMES, "dbw_shop", "dbw_new")


def test_a_copy_a_drop_and_a_new_database_speak_of_themselves(working_site, pg, browser, tmp_path, clean):
    server = working_site
    make_pg_source(pg, "dbw_shop", rows=50)
    add_pg_target(server, pg, "dbw", "dbw_shop")
    dump = dump_custom(pg, "dbw_shop", tmp_path / "words.dump")
    copy = start(server, "from dbkeeper.databases import service\n"
                         "started = service.start_duplicate('dbw', 'dbw_shop', 'dbw_copy', end_sessions=True, user=user)")
    wait_end(server, copy)
    drop = start(server, "from dbkeeper.databases import service\n"
                         "started = service.start_drop('dbw', 'dbw_copy', 'dbw_copy', safety_backup=False, user=user)")
    wait_end(server, drop)
    new = start(server, "from dbkeeper.databases import service\n"
                        "from dbkeeper.operations.service import launch\n"
                        f"plan = service.plan_create_from_backup('dbw', 'dbw_new', source_path={str(dump)!r}, user=user)\n"
                        "started = launch(plan, user=user)")
    wait_end(server, new)
    assert "dbw_new" in pg.databases() and "dbw_copy" not in pg.databases()

    base = server.url("")
    for locale, language in (("en-US", "en"), ("ar", "ar")):
        kinds = words(language)
        restore = kinds["restore"]
        # What a restore says, that none of these may say.
        restore_words = {restore[k] for k in ("heading", "title", "succeeded", "failed", "cancelled", "cancel")}
        context = browser.new_context(locale=locale, viewport={"width": 360, "height": 800})
        page = context.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        try:
            login(page, base, "/operations/")
            if language == "en":  # the in-app notifications, before the progress pages mark them read
                notes = page.locator("#notifications")
                for sentence in ("The copy of dbw_shop as dbw_copy was made.", "The database dbw_copy was dropped.",
                                 "The database dbw_new was created from words.dump."):
                    expect(notes).to_contain_text(sentence)
                assert "restor" not in notes.inner_text().lower()
            for op_id, key, title in ((copy, "duplicate", "dbw_shop"), (drop, "drop", "dbw_copy"),
                                      (new, "create", "dbw_new")):
                row = kinds[key]
                page.goto(f"{base}/restore-progress/{op_id}/")
                expect(page.locator("#tracker-result")).to_be_visible(timeout=30_000)
                expect(page.locator("#progress-heading")).to_have_text(row["heading"])
                assert page.title().startswith(row["heading"])
                expect(page.locator("#tracker")).to_have_attribute("data-wording", key)
                expect(page.locator("#tracker-title")).to_contain_text(title)
                expect(page.locator("#result-title")).to_have_text(row["succeeded"])
                # One final state: the ending alone; no live part, no alert, no cancel.
                expect(page.locator("#tracker")).to_have_attribute("data-status", "succeeded")
                expect(page.locator("#tracker-live")).to_be_hidden()
                expect(page.locator("#tracker-alert")).to_be_hidden()
                expect(page.locator("#tracker-cancel")).to_be_hidden()
                expect(page.locator("#tracker-another")).to_have_count(0)
                expect(page.locator("#tracker-databases")).to_be_visible()
                shown = " ".join(page.locator(part).inner_text()
                                 for part in ("#progress-heading", "#tracker-title", "#tracker-result"))
                assert not [w for w in restore_words if w in shown], (key, shown)
                if language == "en":
                    assert "restor" not in shown.lower(), (key, shown)
                else:
                    assert page.evaluate("document.documentElement.dir") == "rtl"
                scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                assert scroll <= inner, f"{key}: the page is {scroll} px wide in a {inner} px window"
            # The new database's ending names it and its backup, with the time it took.
            expect(page.locator("#result-body")).to_contain_text(re.compile(r"dbw_new.*words\.dump"))
            assert not errors, errors
        finally:
            context.close()
