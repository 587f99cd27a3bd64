"""The upload page in Debian's Chromium: a file goes up through the
hand-written tus client, survives the server's port going away for a few
seconds and a page reload, and ends as a stored backup."""

import json
import time
from pathlib import Path

import requests
from playwright.sync_api import expect

from .live import wait_for
from .tcpproxy import TcpProxy
from .tus_helpers import make_big_sqlite_backup, sha256_file, upload_count, upload_row

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHUNK = 1024 * 1024


def test_upload_page_survives_a_dropped_connection_and_a_reload(fresh_web_server, browser, tmp_path):
    source = make_big_sqlite_backup(tmp_path / "shop.sqlite3", megabytes=10)
    size = source.stat().st_size
    proxy = TcpProxy(fresh_web_server.port, rate=1_200_000).start()
    base = f"http://127.0.0.1:{proxy.port}"
    page = browser.new_page()
    try:
        page.goto(base + "/login/?next=/uploads/new/")
        page.fill("#id_username", "uploader")
        page.fill("#id_password", "pw-uploader")
        page.click("#login-button")
        page.goto(f"{base}/uploads/new/?chunk_size={CHUNK}")
        page.set_input_files("#file", str(source))

        url = wait_for(lambda: next(iter(json.loads(page.evaluate("JSON.stringify(Object.values(localStorage))"))), None),
                       20, "the upload URL in localStorage")
        direct = url.replace(f":{proxy.port}/", f":{fresh_web_server.port}/")
        headers = {"Authorization": f"Bearer {fresh_web_server.token}", "Tus-Resumable": "1.0.0"}

        def offset():
            return int(requests.head(direct, headers=headers, timeout=5).headers["Upload-Offset"])

        # The server's port goes away for a few seconds.
        wait_for(lambda: offset() >= 2 * CHUNK, 30, "two chunks to arrive")
        proxy.cut()
        expect(page.locator("#status")).to_contain_text("Trying again", timeout=10_000)
        time.sleep(3)
        cut_at = offset()
        proxy.restore()
        wait_for(lambda: offset() >= cut_at + 2 * CHUNK, 40, "the upload to carry on after the cut")

        # The page is reloaded mid-upload; picking the same file again resumes it.
        page.reload()
        page.set_input_files("#file", str(source))
        expect(page.locator("#status")).to_contain_text("(resumed at ", timeout=15_000)
        resumed_from = offset()
        assert 0 < resumed_from < size
        assert json.loads(page.evaluate("JSON.stringify(Object.values(localStorage))")) == [url]

        expect(page.locator("#backup")).to_be_visible(timeout=60_000)
        expect(page.locator("#status")).to_contain_text("is stored as a backup")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "upload-page.png"), full_page=True)
        text = page.locator("#backup").inner_text()
        assert sha256_file(source) in text and f"{size:,}" in text
        assert page.evaluate("localStorage.length") == 0  # a finished upload is forgotten
    finally:
        proxy.cut()
        page.close()
    row = upload_row(fresh_web_server, url)
    assert row["status"] == "stored" and row["format"] == "sqlite" and row["size"] == size
    assert sha256_file(fresh_web_server.data_dir / "backups" / row["storage_name"]) == sha256_file(source)
    assert upload_count(fresh_web_server) == 1  # one upload from start to end, never restarted


def test_upload_page_shows_why_a_file_is_refused(fresh_web_server, browser, tmp_path):
    junk = tmp_path / "holiday.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0 not a database " * 1000)
    page = browser.new_page()
    try:
        page.goto(fresh_web_server.url("/login/?next=/uploads/new/"))
        page.fill("#id_username", "uploader")
        page.fill("#id_password", "pw-uploader")
        page.click("#login-button")
        page.wait_for_url("**/uploads/new/")
        page.set_input_files("#file", str(junk))
        expect(page.locator("#status")).to_contain_text("not a backup dbkeeper can restore", timeout=20_000)
        expect(page.locator("#status")).to_have_class("error")
        assert page.locator("#backup").count() == 0
    finally:
        page.close()
    assert not list((fresh_web_server.data_dir / "uploads").glob("*.part"))
    assert not (fresh_web_server.data_dir / "backups").exists() or not any(p.is_file() for p in (fresh_web_server.data_dir / "backups").rglob("*"))
