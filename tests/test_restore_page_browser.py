"""The restore page in Debian's Chromium against the real server (gunicorn
web, worker and watchdog processes), restoring real PostgreSQL dumps into the
real test server, while the session expires, is deleted, the user logs out in
another tab, or the connection is cut.

A restore's length is set by its dump: each row's CHECK constraint sleeps
10 ms when it is checked in any database but the one the dump came from, so
a dump of N rows takes about N/100 seconds to restore, however busy the
machine is."""

import json
import re
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from .browser import login
from .builders import dump_custom
from .live import start_live_server
from .pgserver import PASSWORD
from .tcpproxy import TcpProxy

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
USER, USER_PASSWORD = "alice", "alice-Pw-4821"
ROWS_PER_SECOND = 100

pytestmark = pytest.mark.timeout(240)


# -- building blocks ----------------------------------------------------------

def make_slow_dump(pg, path, seconds):
    """A custom-format dump whose restore lasts about ``seconds``."""
    source = f"slow_source_{seconds}"
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


def store_backup(server, path, name):
    out = server.python(
        "from dbkeeper.backups import store\n"
        f"print(store.add_file({str(path)!r}, {name!r}, move=False).id)"
    )
    return out.strip().splitlines()[-1]


def add_target(server, pg, name, with_old_data=True):
    """A PostgreSQL target named like its database; the password goes through stdin."""
    if with_old_data:
        pg.create_db(name)
        with pg.connect(name) as conn:
            conn.execute("CREATE TABLE old_data (id int)")
    server.cli("target", "add", name, f"postgresql://postgres@127.0.0.1:{pg.port}/{name}", "--password-stdin",
               input=PASSWORD + "\n")
    return name


def operation_row(server, op_id):
    out = server.python(
        "import json\nfrom dbkeeper.operations.models import Operation\n"
        f"op = Operation.objects.get(pk={op_id!r})\n"
        "print(json.dumps({'status': op.status, 'percent': op.percent, 'user': op.username}))"
    )
    return json.loads(out.strip().splitlines()[-1])


def cancel(server, op_id):
    server.cli("cancel", op_id, check=False)


class Backups:
    """Slow dumps stored once per server and length."""

    def __init__(self, server, pg, folder):
        self.server, self.pg, self.folder, self.ids = server, pg, Path(folder), {}

    def slow(self, seconds):
        if seconds not in self.ids:
            path = make_slow_dump(self.pg, self.folder / f"slow-{seconds}s.dump", seconds)
            self.ids[seconds] = store_backup(self.server, path, f"slow-{seconds}s.dump")
        return self.ids[seconds]


# -- fixtures -----------------------------------------------------------------

def start_server(folder, **env):
    return start_live_server(folder, USER, USER_PASSWORD, everything=True, **env)


@pytest.fixture(scope="module")
def site(tmp_path_factory, pg):
    server = start_server(tmp_path_factory.mktemp("site") / "data")
    yield server
    server.stop_all()


@pytest.fixture(scope="module")
def backups(site, pg, tmp_path_factory):
    return Backups(site, pg, tmp_path_factory.mktemp("dumps"))


@pytest.fixture
def proxy(site):
    """The browser reaches the server through a proxy the test can cut."""
    tcp = TcpProxy(site.port).start()
    yield tcp
    tcp.cut()


def base_of(proxy):
    return f"http://127.0.0.1:{proxy.port}"


def start_restore(page, target, backup_id):
    page.select_option("#target", target)
    page.select_option("#backup", backup_id)
    expect(page.locator("#backup-info")).to_be_visible()
    page.fill("#confirm", target)
    page.click("#start")
    page.wait_for_url(re.compile(r"/restore-progress/op_[0-9a-f_]+/$"))
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def wait_running(page, timeout=30):
    """Until the page shows the restore moving."""
    expect(page.locator("#tracker")).to_have_attribute("data-status", "running", timeout=timeout * 1000)


def status_responses(page):
    seen = []
    page.on("response", lambda r: seen.append((time.monotonic(), r.status, r.url)) if "/status/" in r.url else None)
    return seen


def all_responses(page):
    seen = []
    page.on("response", lambda r: seen.append((r.status, r.url)))
    return seen


def expect_succeeded(page, timeout):
    expect(page.locator("#tracker-result")).to_be_visible(timeout=timeout * 1000)
    expect(page.locator("#result-title")).to_have_text("Restore succeeded")
    expect(page.locator("#tracker-bar")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#tracker-alert")).to_be_hidden()


# -- 1. normal ----------------------------------------------------------------

def test_normal_upload_confirm_restore_to_100_percent(site, pg, pg_dbname, browser, proxy, tmp_path):
    target = add_target(site, pg, pg_dbname)
    dump = make_slow_dump(pg, tmp_path / "orders.dump", 6)
    context = browser.new_context(locale="en-US", permissions=["notifications"])
    # Count the browser notifications the page raises (the real constructor still runs).
    context.add_init_script(
        "window.__notes = [];"
        "const Real = window.Notification;"
        "window.Notification = function (title, options) { window.__notes.push(title); return new Real(title, options); };"
        "Object.defineProperty(window.Notification, 'permission', { get: () => Real.permission });"
        "window.Notification.requestPermission = (...a) => Real.requestPermission(...a);"
    )
    page = context.new_page()
    base = base_of(proxy)
    login(page, base, user=USER, password=USER_PASSWORD)

    page.check('input[name="source"][value="upload"]')
    page.set_input_files("#upload-file", str(dump))
    page.click("#upload-button")
    expect(page.locator("#upload-status")).to_have_text("Uploaded and recognised.", timeout=60_000)
    expect(page.locator("#backup-summary")).to_contain_text("PostgreSQL custom-format dump")
    expect(page.locator("#backup-summary")).to_contain_text("1 table")
    expect(page.locator("#backup-summary")).not_to_contain_text("1 tables")
    expect(page.locator("#backup-version")).to_contain_text("server version 15")

    page.select_option("#target", target)
    expect(page.locator("#confirm-help")).to_have_text(f"Type {target} to confirm that this database will be replaced.")
    expect(page.locator("#start")).to_be_disabled()
    page.fill("#confirm", target[:-1])
    expect(page.locator("#start")).to_be_disabled()
    page.fill("#confirm", target)
    page.click("#start")
    page.wait_for_url(re.compile(r"/restore-progress/op_[0-9a-f_]+/$"))
    op_id = page.url.rstrip("/").rsplit("/", 1)[-1]

    # The bar moves: sample what the page shows until the end.
    shown = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and page.locator("#tracker-result").is_hidden():
        value = page.locator("#tracker-bar").get_attribute("aria-valuenow")
        shown.append(int(value))
        time.sleep(0.3)
    expect_succeeded(page, 10)
    assert shown == sorted(shown), "the percent never goes back"
    assert any(3 < p < 95 for p in shown), f"the bar moved through the restore: {sorted(set(shown))}"
    # One final state: the ending replaces the stage, the bar and the figures.
    expect(page.locator("#tracker-stage")).to_be_hidden()
    expect(page.locator("#tracker-bar")).to_be_hidden()
    # The target by the name it was chosen by, as in the heading.
    expect(page.locator("#result-body")).to_contain_text(f"orders.dump was restored into {target} in ")
    expect(page.locator("#result-extra")).to_contain_text(re.compile(r"The previous database was kept as \S+__prerestore_\d+"))
    kept = re.search(r"kept as (\S+?);", page.locator("#result-extra").inner_text()).group(1)
    with pg.connect(kept) as conn:
        assert conn.execute("SELECT to_regclass('public.old_data') IS NOT NULL").fetchone()[0]
    expect(page.locator("#tracker-events")).to_contain_text("The restore succeeded in")

    with pg.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM slow").fetchone()[0] == 6 * ROWS_PER_SECOND
    assert page.evaluate("window.__notes") == ["Restore succeeded"]
    # Seen here, so the in-app notification does not wait for the next page load.
    assert site.python(
        "from dbkeeper.notifications.models import Notification\n"
        f"print(Notification.objects.get(operation_id={op_id!r}).read_at is not None)"
    ).strip() == "True"
    context.close()


# -- 2. session expiry --------------------------------------------------------

def test_session_of_5_seconds_expires_during_a_20_second_restore_and_tracking_goes_on(browser, pg, pg_dbname, tmp_path):
    server = start_server(tmp_path / "data", DBKEEPER_SESSION_AGE=5)
    try:
        target = add_target(server, pg, pg_dbname)
        backup_id = store_backup(server, make_slow_dump(pg, tmp_path / "long.dump", 22), "long.dump")
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        base = server.url("")
        login(page, base, user=USER, password=USER_PASSWORD)
        signed_in = time.monotonic()
        start_restore(page, target, backup_id)
        seen = all_responses(page)
        started = time.monotonic()
        wait_running(page)
        expect_succeeded(page, 90)
        took = time.monotonic() - started
        assert took >= 20, took
        assert time.monotonic() - signed_in > 5 + 10, "the session expired well before the end"
        assert seen and not [s for s in seen if 300 <= s[0] < 400], f"no redirect ever reached the page: {seen}"
        assert not [s for s in seen if s[0] >= 400 and "/status/" in s[1]]
        expect(page.locator("#tracker-notice")).to_be_hidden()
        # The session really is gone: a session-only request is told so, in JSON.
        gone = context.request.get(f"{base}/api/operations/")
        assert gone.status == 401 and gone.json()["session_expired"] is True
        context.close()
    finally:
        server.stop_all()


# -- 3. session deleted; logout -----------------------------------------------

def test_session_row_deleted_mid_restore_and_a_reload_resume_tracking(site, pg, pg_dbname, backups, context, proxy):
    target = add_target(site, pg, pg_dbname)
    backup_id = backups.slow(10)
    page = context.new_page()
    base = base_of(proxy)
    login(page, base, user=USER, password=USER_PASSWORD)
    op_id = start_restore(page, target, backup_id)
    wait_running(page)
    # What a restore of the application's own database (or clearsessions) does.
    site.python("from django.contrib.sessions.models import Session\nSession.objects.all().delete()")
    time.sleep(1.5)
    expect(page.locator("#tracker-alert")).to_be_hidden()
    # A reload, session gone: the page resumes with the token this tab holds.
    page.reload()
    assert page.url == f"{base}/restore-progress/{op_id}/"
    expect(page.locator("#tracker")).to_be_visible()
    expect_succeeded(page, 60)
    expect(page.locator("#tracker-title")).to_have_text(f"slow-10s.dump into {target}")
    assert operation_row(site, op_id)["status"] == "succeeded"


def test_logout_in_another_tab_says_sign_in_again_without_a_reload_loop(site, pg, pg_dbname, backups, context, proxy):
    target = add_target(site, pg, pg_dbname)
    backup_id = backups.slow(30)
    page = context.new_page()
    base = base_of(proxy)
    login(page, base, user=USER, password=USER_PASSWORD)
    op_id = start_restore(page, target, backup_id)
    wait_running(page)
    polls = status_responses(page)
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)

    other = context.new_page()
    other.goto(f"{base}/operations/")
    other.click("#logout-button")
    other.wait_for_url(re.compile(r"/login/"))

    alert = page.locator("#tracker-alert")
    expect(alert).to_be_visible(timeout=10_000)
    expect(alert).to_have_attribute("data-reason", "signin")
    expect(alert).to_contain_text("Sign in again to see how the restore ended.")
    link = alert.locator("a")
    assert link.get_attribute("href") == f"/login/?next=%2Frestore-progress%2F{op_id}%2F"
    refused_at = max(t for t, status, _ in polls if status == 401)
    time.sleep(4)
    assert navigations == [], "the page never reloads by itself"
    assert not [p for p in polls if p[0] > refused_at], "polling stopped at the refusal"
    assert [status for _, status, _ in polls].count(401) == 1

    # The restore went on; signing in again shows how it ended.
    cancel(site, op_id)
    link.click()
    page.fill("#id_username", USER)
    page.fill("#id_password", USER_PASSWORD)
    page.click("#login-button")
    page.wait_for_url(f"{base}/restore-progress/{op_id}/")
    expect(page.locator("#result-title")).to_have_text("Restore cancelled", timeout=30_000)
    expect(page.locator("#result-extra")).to_have_text("The live database was not changed.")
    with pg.connect(target) as conn:
        assert conn.execute("SELECT to_regclass('public.old_data') IS NOT NULL").fetchone()[0]


# -- 4. connection cut --------------------------------------------------------

def test_connection_cut_for_10_seconds_shows_reconnecting_then_resumes(site, pg, pg_dbname, backups, context, proxy):
    target = add_target(site, pg, pg_dbname)
    backup_id = backups.slow(25)
    page = context.new_page()
    base = base_of(proxy)
    login(page, base, user=USER, password=USER_PASSWORD)
    start_restore(page, target, backup_id)
    wait_running(page)
    proxy.cut()
    notice = page.locator("#tracker-notice")
    expect(notice).to_be_visible(timeout=10_000)
    expect(notice).to_contain_text("Reconnecting…")
    time.sleep(10)
    expect(page.locator("#tracker-alert")).to_be_hidden()
    proxy.restore()
    expect(notice).to_be_hidden(timeout=15_000)
    expect_succeeded(page, 60)


def test_connection_cut_for_good_stops_after_5_failures_and_the_restore_is_on_the_operations_page(
        site, pg, pg_dbname, backups, context, proxy):
    target = add_target(site, pg, pg_dbname)
    backup_id = backups.slow(60)
    page = context.new_page()
    base = base_of(proxy)
    login(page, base, user=USER, password=USER_PASSWORD)
    op_id = start_restore(page, target, backup_id)
    wait_running(page)
    proxy.cut()
    cut_at = time.monotonic()
    alert = page.locator("#tracker-alert")
    expect(alert).to_be_visible(timeout=30_000)
    # 1 + 2 + 4 + 8 seconds of retries before giving up.
    assert time.monotonic() - cut_at >= 14
    expect(alert).to_have_attribute("data-reason", "lost")
    expect(alert).to_contain_text("The restore goes on in the background")
    expect(alert.locator("a")).to_have_attribute("href", "/operations/")
    expect(page.locator("#tracker-notice")).to_be_hidden()
    assert operation_row(site, op_id)["status"] == "running"

    # Later, from another way in: the operations page lists it, and cancels it after a confirmation.
    ops = context.new_page()
    ops.goto(site.url("/operations/"))
    row = ops.locator(f"#op-{op_id}")
    expect(row).to_be_visible()
    expect(row).to_contain_text("slow-60s.dump")
    expect(row.locator(".status")).to_have_text("running")
    questions = []
    ops.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    row.locator("button.cancel").click()
    time.sleep(1)
    assert questions and "Cancel the restore of slow-60s.dump" in questions[0]
    assert operation_row(site, op_id)["status"] == "running"  # dismissed: nothing happened
    ops.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.cancel").click()
    expect(row.locator(".status")).to_have_text("cancelled", timeout=30_000)
    # The user was away from the tracking tab: a notification waits for the next page load.
    ops.reload()
    note = ops.locator("#notifications .notification").filter(has=ops.locator(f'a[href="/restore-progress/{op_id}/"]'))
    expect(note).to_contain_text("slow-60s.dump")
    expect(note).to_contain_text("was cancelled; the live database was not changed.")
    with ops.expect_response(lambda r: "/api/notifications/read/" in r.url) as dismissed:
        note.locator(".dismiss").click()
    assert dismissed.value.status == 200
    ops.reload()
    expect(note).to_have_count(0)
    # Its progress view opens again from there, with a fresh token for this tab.
    with ops.expect_response(lambda r: r.url.endswith(f"/api/operations/{op_id}/token/")) as fresh:
        ops.locator(f"#op-{op_id} a").click()
    assert fresh.value.status == 201
    expect(ops.locator("#result-title")).to_have_text("Restore cancelled", timeout=15_000)
    expect(ops.locator("#tracker-events")).to_contain_text("Cancel requested by alice.")


# -- 5. tokens over real HTTP; no raw token kept or logged ----------------------

def signed_in_session(base):
    http = requests.Session()
    http.get(f"{base}/login/", timeout=10)
    answer = http.post(f"{base}/login/", data={"username": USER, "password": USER_PASSWORD,
                                               "csrfmiddlewaretoken": http.cookies["csrftoken"]},
                       allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    http.get(f"{base}/", timeout=10)
    return http


def api_start(http, base, backup_id, target):
    answer = http.post(f"{base}/api/restores/", json={"backup_id": backup_id, "target": target, "confirm": target},
                       headers={"X-CSRFToken": http.cookies["csrftoken"]}, timeout=10)
    assert answer.status_code == 202, answer.text
    return answer.json()


def test_token_answers_are_json_codes_and_no_raw_token_is_kept_or_logged(site, pg, pg_dbname, backups):
    base = site.url("")
    first, second = add_target(site, pg, pg_dbname), add_target(site, pg, pg_dbname + "_b")
    other_user = "bob"
    site.create_user(other_user, "bob-Pw-991", staff=True)
    http = signed_in_session(base)
    mine = api_start(http, base, backups.slow(3), first)
    also_mine = api_start(http, base, backups.slow(3), second)

    def status(op_id, token=None, params=None):
        headers = {"X-Temp-Token": token} if token else {}
        answer = requests.get(f"{base}/restore-progress/{op_id}/status/", headers=headers, params=params,
                              allow_redirects=False, timeout=10)
        assert answer.headers["Content-Type"] == "application/json", answer.text
        return answer

    assert status(mine["id"], mine["token"]).status_code == 200
    missing = status(mine["id"])
    assert missing.status_code == 401 and missing.json()["session_expired"] is True and "WWW-Authenticate" in missing.headers
    assert status(mine["id"], "x" * 43).status_code == 401
    assert status(mine["id"], also_mine["token"]).status_code == 403
    assert status("op_0_000000000000", mine["token"]).status_code == 404

    bob = requests.Session()
    bob.get(f"{base}/login/", timeout=10)
    bob.post(f"{base}/login/", data={"username": other_user, "password": "bob-Pw-991",
                                     "csrfmiddlewaretoken": bob.cookies["csrftoken"]}, timeout=10)
    bobs_target = add_target(site, pg, pg_dbname + "_c")
    bobs = api_start(bob, base, backups.slow(3), bobs_target)
    assert status(bobs["id"], mine["token"]).status_code == 403
    assert status(mine["id"], bobs["token"]).status_code == 403

    site.python(
        "from datetime import timedelta\nfrom django.utils import timezone\n"
        "from dbkeeper.access.operation_tokens import OperationToken, hash_token\n"
        f"OperationToken.objects.filter(token_hash=hash_token({also_mine['token']!r}))"
        ".update(last_used_at=timezone.now() - timedelta(hours=3))"
    )
    expired = status(also_mine["id"], also_mine["token"])
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "token_expired"

    leaked = api_start(http, base, backups.slow(3), add_target(site, pg, pg_dbname + "_d"))
    in_query = status(leaked["id"], params={"token": leaked["token"]})
    assert in_query.status_code == 400 and in_query.json()["error"]["code"] == "token_in_query"
    assert status(leaked["id"], leaked["token"]).status_code == 401  # revoked: it is in a log now

    for op in (mine, also_mine, bobs, leaked):
        cancel(site, op["id"])
    header_only = [mine["token"], also_mine["token"], bobs["token"]]
    stored = b"".join(p.read_bytes() for p in site.data_dir.glob("control.sqlite3*"))
    logs = "".join(p.read_text(errors="replace") for p in site.logs.glob("*.log"))
    logs += (site.data_dir / "logs" / "dbkeeper.log").read_text(errors="replace")
    for raw in header_only + [leaked["token"]]:
        assert raw.encode() not in stored, "the control database holds only hashes"
    for raw in header_only:
        assert raw not in logs
    assert f"token={tokens_prefix(mine['token'])} code=200" in logs


def tokens_prefix(raw):
    import hashlib

    return hashlib.sha256(raw.encode()).hexdigest()[:8]


# -- 6. two web processes -----------------------------------------------------

def test_a_token_issued_by_one_web_process_is_accepted_by_another(site, pg, pg_dbname, backups):
    second_port = site.start_web(name="web2")
    try:
        http = signed_in_session(site.url(""))
        started = api_start(http, site.url(""), backups.slow(3), add_target(site, pg, pg_dbname))
        for port in (site.port, second_port):
            answer = requests.get(f"http://127.0.0.1:{port}{started['status_url']}",
                                  headers={"X-Temp-Token": started["token"]}, timeout=10)
            assert answer.status_code == 200 and answer.json()["id"] == started["id"]
        cancel(site, started["id"])
    finally:
        site.kill("web2")


# -- 7. Arabic ----------------------------------------------------------------

def test_arabic_page_is_right_to_left_with_a_screenshot(site, pg, pg_dbname, backups, browser, proxy):
    target = add_target(site, pg, pg_dbname)
    backup_id = backups.slow(6)
    context = browser.new_context(locale="ar", viewport={"width": 1100, "height": 900})
    page = context.new_page()
    base = base_of(proxy)
    login(page, base, user=USER, password=USER_PASSWORD)
    assert page.evaluate("document.documentElement.dir") == "rtl"
    assert page.evaluate("document.documentElement.lang") == "ar"
    expect(page.locator("h1")).to_have_text("استعادة قاعدة بيانات")
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "restore-page-ar.png"), full_page=True)

    start_restore(page, target, backup_id)
    # Logical properties: in right-to-left the bar fills from the right (seen while it runs).
    wait_running(page)
    bar = page.locator("#tracker-bar").bounding_box()
    fill = page.locator("#tracker-fill").bounding_box()
    assert bar and fill and abs((bar["x"] + bar["width"]) - (fill["x"] + fill["width"])) < 3
    expect(page.locator("#result-title")).to_have_text("نجحت الاستعادة", timeout=60_000)
    expect(page.locator("#tracker-events")).to_contain_text("نجحت الاستعادة في")
    page.screenshot(path=str(ARTIFACTS / "restore-progress-ar.png"), full_page=True)

    # The language switch goes back to English, left to right.
    page.select_option("#language-select", "en")
    page.wait_for_load_state("load")
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    context.close()
