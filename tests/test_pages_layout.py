"""The pages in Debian's Chromium, against the real server (web, worker and
watchdog): every page fits from a phone (360 px) to a wide screen without
sideways scrolling, in English and Arabic, with a screenshot of each in
test-artifacts/; and the page details a new user trips over: a target added
from the page, one final state at the end of a restore with its error said
once, cancelling from the progress page, a refused upload that does not leave
the bar full, and Arabic plurals and format names."""

import re
import time
from pathlib import Path

import pytest
import requests
from django.utils import translation
from playwright.sync_api import expect

from dbkeeper.web.strings import size_text

from .browser import login
from .builders import dump_custom
from .live import start_live_server, wait_for
from .pgserver import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "layout"
USER, USER_PASSWORD = "carol", "carol-Pw-3307"
ROOT_USER, ROOT_PASSWORD = "root", "root-Pw-5512"
ROWS_PER_SECOND = 100
WIDTHS = [360, 768, 1440]
LANGUAGES = {"en": "en-US", "ar": "ar"}
OK_GREEN = "rgb(29, 122, 70)"  # --ok in dbkeeper.css

pytestmark = pytest.mark.timeout(300)


# -- building blocks ----------------------------------------------------------

def make_slow_dump(pg, path, seconds):
    """A custom-format dump whose restore lasts about ``seconds`` (each row's
    CHECK sleeps 10 ms in any database but its own)."""
    source = f"layout_slow_{seconds}"
    pg.drop_db(source)
    pg.create_db(source)
    with pg.connect(source) as conn:
        conn.execute(
            "CREATE FUNCTION public.slow_ok(v text) RETURNS boolean LANGUAGE sql AS "
            f"$$ SELECT current_database() = '{source}' OR pg_sleep(0.01) IS NOT NULL $$"
        )
        conn.execute("CREATE TABLE public.slow (id int PRIMARY KEY, body text CHECK (public.slow_ok(body)))")
        conn.execute("INSERT INTO public.slow SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, %s) g",
                     (seconds * ROWS_PER_SECOND,))
    dump_custom(pg, source, path)
    pg.drop_db(source)
    return path


def make_four_table_dump(pg, path):
    source = "layout_four_tables"
    pg.drop_db(source)
    pg.create_db(source)
    with pg.connect(source) as conn:
        for name in ("customers", "orders", "order_lines", "invoices"):
            conn.execute(f"CREATE TABLE public.{name} (id int PRIMARY KEY, note text)")
            conn.execute(f"INSERT INTO public.{name} SELECT g, 'n' || g FROM generate_series(1, 50) g")
    dump_custom(pg, source, path)
    pg.drop_db(source)
    return path


def make_failing_sql(path):
    """Plain SQL that psql stops in, once some of it has run."""
    path.write_bytes(b"CREATE TABLE public.t (a int, b text);\nSELECT no_such_function();\n")
    return path


def store_backup(server, path, name):
    out = server.python(
        "from dbkeeper.backups import store\n"
        f"print(store.add_file({str(path)!r}, {name!r}, move=False).id)"
    )
    return out.strip().splitlines()[-1]


def add_target(server, pg, name):
    pg.drop_db(name)
    pg.create_db(name)
    server.cli("target", "add", name, f"postgresql://postgres@127.0.0.1:{pg.port}/{name}", "--password-stdin",
               input=PASSWORD + "\n")
    return name


def operation_status(server, op_id):
    return server.python(
        "from dbkeeper.operations.models import Operation\n"
        f"print(Operation.objects.get(pk={op_id!r}).status)"
    ).strip().splitlines()[-1]


def start_restore(page, target, backup_id):
    page.select_option("#target", target)
    page.select_option("#backup", backup_id)
    expect(page.locator("#backup-info")).to_be_visible()
    page.fill("#confirm", target)
    page.click("#start")
    page.wait_for_url(re.compile(r"/restore-progress/op_[0-9a-f_]+/$"))
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def restore_over_http(server, backup_id, target):
    """Start a restore as the API would for the page, and wait for its end."""
    base = server.url("")
    http = requests.Session()
    http.get(f"{base}/login/", timeout=10)
    http.post(f"{base}/login/", data={"username": USER, "password": USER_PASSWORD,
                                      "csrfmiddlewaretoken": http.cookies["csrftoken"]}, timeout=10)
    http.get(f"{base}/", timeout=10)
    answer = http.post(f"{base}/api/restores/", json={"backup_id": backup_id, "target": target, "confirm": target},
                       headers={"X-CSRFToken": http.cookies["csrftoken"]}, timeout=10)
    assert answer.status_code == 202, answer.text
    op_id = answer.json()["id"]
    wait_for(lambda: operation_status(server, op_id) in ("succeeded", "failed", "cancelled"), 120, "the restore's end")
    return op_id


def visible_count(page, text):
    """How many times ``text`` shows on the page (hidden parts and folded details do not count)."""
    return page.evaluate("(t) => document.body.innerText.split(t).length - 1", text)


def fits(page, what):
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{what}: the page is {scroll} px wide in a {inner} px window"


def shoot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


# -- fixtures -----------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    server = start_live_server(tmp_path_factory.mktemp("layout") / "data", USER, USER_PASSWORD, everything=True)
    server.create_user(ROOT_USER, ROOT_PASSWORD, staff=True, superuser=True)
    yield server
    server.stop_all()


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    return tmp_path_factory.mktemp("layout-dumps")


@pytest.fixture(scope="module")
def four_tables(site, pg, dumps):
    return store_backup(site, make_four_table_dump(pg, dumps / "four-tables.dump"), "four-tables.dump")


@pytest.fixture(scope="module")
def ended(site, pg, dumps):
    """One restore that succeeded and one that failed, for the pages that show how restores end."""
    target = add_target(site, pg, "layout_ended_long_target")
    good = store_backup(site, make_slow_dump(pg, dumps / "slow-1s.dump", 1),
                        "a-backup-file-with-a-long-name-of-the-customer-database-2026-11-30.dump")
    bad = store_backup(site, make_failing_sql(dumps / "broken.sql"), "broken.sql")
    return {"target": target, "succeeded": restore_over_http(site, good, target),
            "failed": restore_over_http(site, bad, target)}


# -- 13. no sideways scrolling, from a phone to a wide screen ------------------

@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_page_fits_its_window_without_sideways_scrolling(site, pg, browser, ended, four_tables, language, width):
    context = browser.new_context(locale=LANGUAGES[language], viewport={"width": width, "height": 800})
    page = context.new_page()
    base = site.url("")
    try:
        page.goto(f"{base}/login/")
        assert page.evaluate("document.documentElement.lang") == language
        fits(page, "login")
        shoot(page, f"login-{language}-{width}")
        login(page, base, user=USER, password=USER_PASSWORD)

        # The restore page, with a target and a backup chosen (the summary and the sentence to confirm).
        page.select_option("#target", ended["target"])
        page.select_option("#backup", four_tables)
        expect(page.locator("#backup-info")).to_be_visible()
        page.locator("#backup-info details").evaluate("(d) => { d.open = true; }")
        fits(page, "restore")
        shoot(page, f"restore-{language}-{width}")

        # The Backups page, with a backup's details open.
        page.goto(f"{base}/backups/")
        backup_row = page.locator(f"#backup-{four_tables}")
        expect(backup_row).to_be_visible()
        backup_row.locator("details summary").click()
        backup_row.locator("button.delete").click()
        expect(backup_row.locator(".delete-confirm")).to_be_visible()
        fits(page, "backups")
        shoot(page, f"backups-{language}-{width}")

        page.goto(f"{base}/uploads/new/")
        expect(page.locator("main .card")).to_be_visible()
        fits(page, "upload")
        shoot(page, f"upload-{language}-{width}")

        # The operations list with an event log open.
        page.goto(f"{base}/operations/")
        row = page.locator(f"#op-{ended['succeeded']}")
        expect(row).to_be_visible()
        row.locator("details summary").click()
        expect(row.locator("ol.events")).to_be_visible()
        fits(page, "operations")
        shoot(page, f"operations-{language}-{width}")
        # A finished row offers its details, not a progress to view; its bar is green as on the restore page.
        details = row.locator(".actions a")
        expect(details).to_have_count(1)
        with translation.override(language):
            expect(details).to_have_text(translation.gettext("Details"))
        assert row.locator(".bar-fill").evaluate("(e) => getComputedStyle(e).backgroundColor") == OK_GREEN

        # The progress page at the end of a restore: succeeded, and failed.
        for outcome in ("succeeded", "failed"):
            page.goto(f"{base}/restore-progress/{ended[outcome]}/")
            expect(page.locator("#tracker-result")).to_be_visible(timeout=15_000)
            fits(page, f"progress ({outcome})")
            shoot(page, f"progress-{outcome}-{language}-{width}")
    finally:
        context.close()


# -- 9. a target added from the page -------------------------------------------

def test_adding_a_target_from_the_page_clears_the_form_and_the_none_yet_hint(fresh_web_server, pg, browser, tmp_path):
    server = fresh_web_server
    server.create_user(ROOT_USER, ROOT_PASSWORD, staff=True, superuser=True)
    backup_id = store_backup(server, make_four_table_dump(pg, tmp_path / "four.dump"), "four.dump")
    name = "page_added_target"
    pg.drop_db(name)
    pg.create_db(name)
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    try:
        login(page, server.url(""), user=ROOT_USER, password=ROOT_PASSWORD)
        expect(page.locator("#no-targets")).to_be_visible()
        page.click("#add-target summary")
        page.fill("#new-target-name", name)
        page.fill("#new-target-url", pg.url(name))
        page.click("#add-target-form button[type=submit]")
        expect(page.locator("#add-target-status")).to_have_text(f"Target {name} added.", timeout=20_000)
        expect(page.locator("#no-targets")).to_have_count(0)
        expect(page.locator("#new-target-name")).to_have_value("")
        expect(page.locator("#new-target-url")).to_have_value("")
        expect(page.locator("#target")).to_have_value(name)

        # The name to type stands out from its sentence.
        page.select_option("#backup", backup_id)
        help_line = page.locator("#confirm-help")
        expect(help_line).to_have_text(f"Type {name} to confirm that this database will be replaced.")
        expect(help_line.locator("strong code")).to_have_text(name)
        assert help_line.locator("strong").evaluate("(e) => Number(getComputedStyle(e).fontWeight)") >= 600
    finally:
        context.close()
        pg.drop_db(name)


# -- 11. one final state; the error once; cancelling from the progress page ----

def test_a_failed_restore_ends_in_one_final_state_with_its_error_said_once(site, pg, browser, dumps):
    target = add_target(site, pg, "layout_fails_here")
    backup_id = store_backup(site, make_failing_sql(dumps / "fails.sql"), "fails.sql")
    context = browser.new_context(locale="en-US", permissions=["notifications"])
    page = context.new_page()
    try:
        login(page, site.url(""), user=USER, password=USER_PASSWORD)
        op_id = start_restore(page, target, backup_id)
        expect(page.locator("#result-title")).to_have_text("Restore failed", timeout=60_000)
        for live in ("#tracker-live", "#tracker-stage", "#tracker-bar", "#tracker-percent", "#tracker-cancel"):
            expect(page.locator(live)).to_be_hidden()
        expect(page.locator("#notify-line")).to_be_hidden()
        error = page.locator("#result-body").inner_text()
        assert "no_such_function" in error
        assert visible_count(page, error) == 1, page.evaluate("document.body.innerText")
        assert visible_count(page, "no_such_function") == 1
        expect(page.locator("#result-extra")).to_have_text("The live database was not changed.")

        # Opened again later: the same single ending.
        page.goto(site.url(f"/restore-progress/{op_id}/"))
        expect(page.locator("#result-title")).to_have_text("Restore failed", timeout=15_000)
        expect(page.locator("#tracker-live")).to_be_hidden()
        expect(page.locator("#notify-line")).to_be_hidden()
        assert visible_count(page, "no_such_function") == 1
    finally:
        context.close()


def test_a_restore_says_what_it_counts_and_names_the_target_as_the_heading_does(site, pg, browser, dumps):
    target = add_target(site, pg, "layout_named_target")
    backup_id = store_backup(site, make_slow_dump(pg, dumps / "slow-6s.dump", 6), "slow-6s.dump")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    try:
        login(page, site.url(""), user=USER, password=USER_PASSWORD)
        start_restore(page, target, backup_id)
        counts = set()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and page.locator("#tracker-result").is_hidden():
            counts.add(page.locator("#tracker-count").text_content())
            time.sleep(0.2)
        assert any(re.fullmatch(r"[\d.,]+\s\S+ of [\d.,]+\s\S+ of table data", c or "") for c in counts), counts
        expect(page.locator("#result-title")).to_have_text("Restore succeeded")
        expect(page.locator("#tracker-title")).to_have_text(f"slow-6s.dump into {target}")
        expect(page.locator("#result-body")).to_contain_text(f"slow-6s.dump was restored into {target} in ")
        expect(page.locator("#result-body")).to_contain_text("PostgreSQL custom-format dump, 1 table, ")
        expect(page.locator("#result-body")).not_to_contain_text("postgresql://")
        expect(page.locator("#tracker-live")).to_be_hidden()
        expect(page.locator("#notify-line")).to_be_hidden()
    finally:
        context.close()


def test_a_running_restore_is_cancelled_from_its_progress_page_after_a_confirmation(site, pg, browser, dumps):
    target = add_target(site, pg, "layout_cancelled_here")
    backup_id = store_backup(site, make_slow_dump(pg, dumps / "slow-40s.dump", 40), "slow-40s.dump")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    try:
        login(page, site.url(""), user=USER, password=USER_PASSWORD)
        op_id = start_restore(page, target, backup_id)
        expect(page.locator("#tracker")).to_have_attribute("data-status", "running", timeout=30_000)
        button = page.locator("#tracker-cancel")
        expect(button).to_be_visible()

        questions = []
        page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
        button.click()
        wait_for(lambda: questions, 5, "the confirmation")
        assert "The live database stays as it is." in questions[0]
        time.sleep(1)
        assert operation_status(site, op_id) == "running"  # dismissed: nothing happened

        # Reloaded (the progress page proper), then confirmed.
        page.reload()
        expect(page.locator("#tracker")).to_have_attribute("data-status", "running", timeout=15_000)
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#tracker-cancel").click()
        expect(page.locator("#result-title")).to_have_text("Restore cancelled", timeout=30_000)
        expect(page.locator("#tracker-live")).to_be_hidden()
        assert operation_status(site, op_id) == "cancelled"
        with pg.connect(target) as conn:
            assert conn.execute("SELECT to_regclass('public.slow') IS NULL").fetchone()[0]
    finally:
        context.close()


# -- 12. a refused upload; the upload page in Arabic ----------------------------

@pytest.mark.parametrize("where", ["upload page", "restore page"])
def test_a_refused_upload_does_not_leave_the_bar_full(site, browser, tmp_path, where):
    junk = tmp_path / "holiday.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0 not a database " * 20000)
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    try:
        if where == "upload page":
            login(page, site.url(""), "/uploads/new/", USER, USER_PASSWORD)
            page.set_input_files("#file", str(junk))
            bar, status = page.locator("#bar"), page.locator("#status")
        else:
            login(page, site.url(""), user=USER, password=USER_PASSWORD)
            page.check('input[name="source"][value="upload"]')
            page.set_input_files("#upload-file", str(junk))
            page.click("#upload-button")
            bar, status = page.locator("#upload-bar"), page.locator("#upload-status")
        expect(status).to_contain_text("not a backup dbkeeper can restore", timeout=30_000)
        expect(bar).to_be_hidden()
        assert bar.evaluate("(b) => b.value") == 0
    finally:
        context.close()


def test_the_upload_page_states_its_limit_in_the_pages_units(site, browser):
    context = browser.new_context(locale="ar")
    page = context.new_page()
    try:
        login(page, site.url(""), "/uploads/new/", USER, USER_PASSWORD)
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        text = page.locator("main .card .hint").first.inner_text()
        limit = int(site.python("from dbkeeper import conf\nprint(conf.get('MAX_UPLOAD_SIZE'))").split()[-1])
        with translation.override("ar"):
            shown = size_text(limit)  # e.g. "50 ج.ب", the unit the scripts use, beside its number
            unit = translation.gettext("{n} GB").replace("{n}", "").strip()
        assert shown in text, text
        if limit == 50 * 1024 ** 3:
            assert f"50\u00a0{unit}" in text and "50,0" not in text, text
    finally:
        context.close()


# -- 14. Arabic: format names and plurals ---------------------------------------

@pytest.mark.parametrize("language", list(LANGUAGES))
def test_the_backup_summary_names_its_format_and_counts_4_tables_in_the_pages_language(
        site, browser, four_tables, language):
    context = browser.new_context(locale=LANGUAGES[language])
    page = context.new_page()
    try:
        login(page, site.url(""), user=USER, password=USER_PASSWORD)
        page.select_option("#backup", four_tables)
        summary = page.locator("#backup-summary")
        expect(summary).to_be_visible()
        four = page.evaluate("window.dbkeeper.number(4)")
        with translation.override(language):
            # The server's own plural for 4 (in Arabic the 3-to-10 form, "4 جداول"), and its format name.
            tables = translation.ngettext("{n} table", "{n} tables", 4).replace("{n}", four)
            format_name = translation.gettext("PostgreSQL custom-format dump")
        expect(summary).to_contain_text(tables)
        expect(summary).to_contain_text(format_name)
        option = page.locator(f'#backup option[value="{four_tables}"]')
        expect(option).to_contain_text(format_name)
        if language == "en":
            expect(summary).to_contain_text("4 tables")
        # A size keeps its unit beside it: a no-break space between them.
        assert re.search(r"[\d٠-٩.,٫]+\u00a0\S+", summary.inner_text()), summary.inner_text()
    finally:
        context.close()


def test_counted_sentences_reach_the_page_as_one_form_per_plural_category():
    from dbkeeper.web.strings import PLURAL_SAMPLES, js_strings

    with translation.override("en"):
        forms = js_strings()["table_count"]
    assert (forms["one"], forms["other"]) == ("{n} table", "{n} tables")
    with translation.override("ar"):
        forms = js_strings()["table_count"]
        assert set(forms) == set(PLURAL_SAMPLES)
        # Each category takes the catalog's form for a count of it (4 is "few", like 3).
        for category, n in PLURAL_SAMPLES.items():
            assert forms[category] == translation.ngettext("{n} table", "{n} tables", n)
        assert forms["few"] == translation.ngettext("{n} table", "{n} tables", 4)


@pytest.mark.django_db
def test_the_progress_page_names_the_target_by_its_configured_name_and_offers_to_cancel(alice):
    import json

    from django.test import Client

    from dbkeeper.operations.models import Operation

    named = Operation.objects.create(user_id=str(alice.pk), username="alice", source_name="shop.dump",
                                     target_spec="shop", target_display="postgresql://app:***@db/shop",
                                     backup_format="pg_custom")
    by_url = Operation.objects.create(user_id=str(alice.pk), username="alice", source_name="hr.dump",
                                      target_spec="postgresql://app:pw@db/hr", target_display="postgresql://app:***@db/hr")
    client = Client()
    client.force_login(alice)

    def operation_json(op):
        html = client.get(f"/restore-progress/{op.id}/").content.decode()
        found = re.search(r'<script id="dbkeeper-operation" type="application/json">(.*?)</script>', html, re.S)
        return json.loads(found.group(1)), html

    data, html = operation_json(named)
    assert (data["target"], data["format"]) == ("shop", "pg_custom")
    assert data["cancel_url"] == f"/api/operations/{named.id}/cancel/"
    assert "postgresql://" not in html
    data, html = operation_json(by_url)
    assert data["target"] == "postgresql://app:***@db/hr" and "pw@" not in html  # a URL spec is never shown
