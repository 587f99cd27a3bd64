"""The Backups page in Debian's Chromium against the real server (web,
worker, watchdog): "Back up now" tracked to its end, the backup listed with
its details, downloaded (the same bytes as stored), verified, and restored
from its row into another database with the same data."""

import hashlib
import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from dbkeeper.backups.models import Backup

from .browser import login
from .builders import dump_custom, make_big_pg_source, make_pg_source
from .conftest import add_pg_target
from .dbsnapshot import pg_snapshot
from .pgserver import conninfo

pytestmark = pytest.mark.timeout(300)


def test_back_up_download_verify_and_restore_from_the_backups_page(working_site, pg, browser, tmp_path):
    server = working_site
    make_pg_source(pg, "bp_source", rows=800, value="page")
    pg.drop_db("bp_copy")
    pg.create_db("bp_copy")
    add_pg_target(server, pg, "shop", "bp_source")
    add_pg_target(server, pg, "shop_copy", "bp_copy")
    context = browser.new_context(locale="en-US", accept_downloads=True)
    page = context.new_page()
    base = server.url("")
    try:
        login(page, base, "/backups/")
        expect(page.locator("#nav-backups")).to_have_attribute("href", "/backups/")
        expect(page.locator("#backups")).to_contain_text("No backups match.")

        # Back up now: tracked in the page to its end, then listed.
        page.locator('.back-up-now[data-target="shop"]').click()
        expect(page.locator("#tracker-title")).to_have_text("Backup of shop")
        expect(page.locator("#result-title")).to_have_text("Backup stored", timeout=90_000)
        expect(page.locator("#result-body")).to_contain_text("The backup is stored: ")
        expect(page.locator("#tracker-live")).to_be_hidden()
        row = page.locator("#backups li.backup")
        expect(row).to_have_count(1, timeout=10_000)
        backup_id = row.get_attribute("id").removeprefix("backup-")
        row.locator("details summary").click()
        facts = row.locator(".backup-facts")
        expect(facts).to_contain_text("public.items: 800 rows")
        expect(facts).to_contain_text("sales.orders: 80 rows")
        expect(facts).to_contain_text("never verified")
        expect(facts).to_contain_text("PostgreSQL custom-format dump")

        # Download: the stored bytes, whose SHA-256 is the catalog's.
        with page.expect_download() as info:
            row.locator("a.download").click()
        downloaded = tmp_path / "downloaded.dump"
        info.value.save_as(downloaded)
        sha = row.locator(".backup-facts code").inner_text().strip()
        stored = next(p for p in (server.data_dir / "backups").rglob(f"*{backup_id}.dump"))
        assert downloaded.read_bytes() == stored.read_bytes()
        assert hashlib.sha256(downloaded.read_bytes()).hexdigest() == sha

        # Verify: tracked to its end; the row says it passed.
        row.locator("button.verify").click()
        expect(page.locator("#tracker-title")).to_have_text(re.compile(r"^Verification of .+\.dump$"))
        expect(page.locator("#result-title")).to_have_text("Verification passed", timeout=90_000)
        expect(page.locator("#result-body")).to_contain_text(
            "The backup is sound: its checksum matches and 2 tables restored with exactly the rows the catalog lists.")
        row = page.locator(f"#backup-{backup_id}")
        expect(row.locator(".chip.ok")).to_have_text("verified")

        # Restore this: the restore page with the backup chosen; into the other target.
        row.locator("a.restore-this").click()
        page.wait_for_url(re.compile(r"/\?backup=bk_"))
        expect(page.locator("#backup")).to_have_value(backup_id)
        expect(page.locator("#backup-info")).to_be_visible()
        page.select_option("#target", "shop_copy")
        page.fill("#confirm", "shop_copy")
        page.click("#start")
        expect(page.locator("#result-title")).to_have_text("Restore succeeded", timeout=90_000)
        assert pg_snapshot(conninfo(pg, "bp_copy")) == pg_snapshot(conninfo(pg, "bp_source"))
    finally:
        context.close()
        pg.drop_db("bp_source")
        pg.drop_db("bp_copy")


def test_pin_and_delete_from_the_page(working_site, pg, browser):
    server = working_site
    make_pg_source(pg, "bp_pin_source", rows=50, value="pin")
    add_pg_target(server, pg, "pinned_shop", "bp_pin_source")
    backup_id = server.cli("backup", "pinned_shop").stdout.strip()
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    try:
        login(page, server.url(""), "/backups/?target=pinned_shop")
        row = page.locator(f"#backup-{backup_id}")
        expect(page.locator("#backups li.backup")).to_have_count(1)
        row.locator("button.pin").click()
        expect(row.locator(".chip.pinned")).to_have_text("pinned")
        expect(row.locator("button.delete")).to_be_disabled()
        row.locator("button.pin").click()
        expect(row.locator("button.delete")).to_be_enabled()
        row.locator("button.delete").click()
        expect(row.locator(".delete-confirm")).to_contain_text(f"Type {backup_id} to confirm")
        row.locator(".delete-typed").fill("not-the-id")
        expect(row.locator(".confirm-delete")).to_be_disabled()
        row.locator(".delete-typed").fill(backup_id)
        row.locator(".confirm-delete").click()
        expect(page.locator("#backups-status")).to_have_text(f"Backup {backup_id} was deleted.")
        expect(page.locator("#backups li.backup")).to_have_count(0)
        assert server.cli("backups", "--json").stdout.strip() == "[]" or backup_id not in server.cli(
            "backups", "--json").stdout
    finally:
        context.close()
        pg.drop_db("bp_pin_source")


def test_an_uploaded_backup_is_verified_next_to_a_chosen_target(working_site, pg, browser, tmp_path):
    server = working_site
    make_pg_source(pg, "bp_upload_source", rows=60, value="up")
    add_pg_target(server, pg, "upload_shop", "bp_upload_source")
    dump = dump_custom(pg, "bp_upload_source", tmp_path / "uploaded.dump")
    backup_id = server.python("from dbkeeper.backups import store\n"
                              f"print(store.add_file({str(dump)!r}, 'uploaded.dump', move=False).id)"
                              ).strip().splitlines()[-1]
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    try:
        login(page, server.url(""), "/backups/")
        row = page.locator(f"#backup-{backup_id}")
        row.locator("select.verify-target").select_option("upload_shop")
        row.locator("button.verify").click()
        expect(page.locator("#result-title")).to_have_text("Verification passed", timeout=90_000)
        expect(page.locator("#result-body")).to_have_text(
            "The backup is sound: its checksum matches and it restored; the catalog has no row counts to compare with.")
    finally:
        context.close()
        pg.drop_db("bp_upload_source")


@pytest.mark.django_db
def test_the_page_lists_with_filters_and_is_in_the_menu(alice):
    Backup.objects.create(name="a.dump", storage_name="x/a.dump", size=10, sha256="0" * 64, format="pg_custom",
                          source="backup", origin="manual", target_spec="shop", target_display="shop",
                          database="shop", tables={"public.t": 3})
    Backup.objects.create(name="b.dump", storage_name="x/b.dump", size=10, sha256="1" * 64, format="pg_custom",
                          source="backup", origin="schedule:7", target_spec="other", database="other")
    client = Client()
    client.force_login(alice)
    html = client.get("/backups/").content.decode()
    assert 'id="nav-backups"' in html and "dbkeeper-backup-rows" in html
    assert "a.dump" in html and "b.dump" in html
    only = client.get("/backups/?origin=schedule").content.decode()
    assert "b.dump" in only and "a.dump" not in only
    bad = client.get("/backups/?since=yesterday-ish").content.decode()
    assert 'id="backups-filter-error"' in bad and "a.dump" in bad


def test_the_progress_page_of_a_backup_and_of_a_verification_speaks_of_them(working_site, pg, browser):
    """Opened from the Operations page, the progress page of a backup or a
    verification has their titles, stages and endings, never a restore's."""
    server = working_site
    make_big_pg_source(pg, "bp_words_source", rows=400_000)
    add_pg_target(server, pg, "words", "bp_words_source")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    base = server.url("")
    try:
        login(page, base, "/backups/")
        page.locator('.back-up-now[data-target="words"]').click()
        expect(page.locator("#result-title")).to_have_text("Backup stored", timeout=120_000)
        expect(page.locator("#backups li.backup")).not_to_have_count(0, timeout=10_000)

        # The finished backup, from the Operations page.
        page.goto(f"{base}/operations/")
        backup_row = page.locator("tr[id^=op-]", has_text="words").first
        backup_row.locator(".actions a").click()
        page.wait_for_url(re.compile(r"/restore-progress/op_"))
        expect(page.locator("#progress-heading")).to_have_text("Backup progress")
        assert page.title().startswith("Backup progress")
        expect(page.locator("#tracker-title")).to_have_text("Backup of words")
        expect(page.locator("#result-title")).to_have_text("Backup stored")
        expect(page.locator("#result-body")).to_contain_text("The backup is stored: ")
        expect(page.locator("#tracker-another")).to_have_count(0)
        expect(page.locator("#tracker-backups")).to_be_visible()
        for part in ("#progress-heading", "#tracker-title", "#tracker-result"):
            assert "restor" not in page.locator(part).inner_text().lower(), part
        # The same page on a phone, in Arabic: right to left, no sideways scrolling.
        phone = browser.new_context(locale="ar", viewport={"width": 360, "height": 800})
        try:
            small = phone.new_page()
            login(small, base, "/backups/")
            small.goto(page.url)
            expect(small.locator("#tracker-result")).to_be_visible(timeout=15_000)
            assert small.evaluate("document.documentElement.dir") == "rtl"
            assert small.evaluate("document.documentElement.scrollWidth") <= small.evaluate("window.innerWidth")
        finally:
            phone.close()

        # A verification, opened from the Operations page while it runs: its stages are a verification's.
        page.goto(f"{base}/backups/")
        page.locator("#backups li.backup", has_text="words").first.locator("button.verify").click()
        expect(page.locator("#tracker-title")).to_have_text(re.compile(r"^Verification of "))
        page.goto(f"{base}/operations/")
        verify_row = page.locator("tr[id^=op-][data-status=running], tr[id^=op-][data-status=queued]").first
        verify_row.locator(".actions a").click()
        page.wait_for_url(re.compile(r"/restore-progress/op_"))
        expect(page.locator("#progress-heading")).to_have_text("Verification progress")
        expect(page.locator("#tracker-cancel")).to_have_text("Cancel")
        expect(page.locator("#tracker-stage")).to_have_text(re.compile(
            r"^(Reading the stored file and checking its checksum|Test-restoring into a scratch copy…|"
            r"Comparing the tables and rows with the catalog|Waiting for a worker)$"))
        expect(page.locator("#result-title")).to_have_text("Verification passed", timeout=120_000)
        expect(page.locator("#result-body")).to_contain_text("The backup is sound")
        for part in ("#progress-heading", "#tracker-title", "#tracker-result"):
            assert "restore " not in page.locator(part).inner_text().lower(), part
    finally:
        context.close()
        pg.drop_db("bp_words_source")


def test_the_restore_page_applies_a_backups_roles_when_the_box_is_ticked(working_site, pg, browser):
    """A backup made with its server's roles offers "First create the
    backup's server roles"; ticked, a restore through a trusting target
    creates the role the server lost, and the table is its own again."""
    server = working_site
    from .pgserver import PASSWORD

    make_pg_source(pg, "bp_roles_source", rows=20, value="roles")
    with pg.connect() as conn:
        conn.execute("DROP ROLE IF EXISTS bp_page_owner")
        conn.execute("CREATE ROLE bp_page_owner NOLOGIN")
    with pg.connect("bp_roles_source") as conn:
        conn.execute("ALTER TABLE public.items OWNER TO bp_page_owner")
    server.cli("target", "add", "roles_home", f"postgresql://postgres@127.0.0.1:{pg.port}/bp_roles_source",
               "--trust-superuser", "--password-stdin", input=PASSWORD + "\n")
    made = server.cli("backup", "roles_home", "--roles")
    backup_id = re.search(r"bk_[0-9a-f]+", made.stdout + made.stderr).group(0)
    with pg.connect("bp_roles_source") as conn:  # "a new server": the role is gone
        conn.execute("ALTER TABLE public.items OWNER TO CURRENT_USER")
    with pg.connect() as conn:
        conn.execute("DROP ROLE bp_page_owner")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    base = server.url("")
    try:
        login(page, base, "/")
        page.select_option("#target", "roles_home")
        page.select_option("#backup", backup_id)
        expect(page.locator("#apply-roles-line")).to_be_visible()
        page.check("#apply-roles")
        page.fill("#confirm", "roles_home")
        page.click("#start")
        expect(page.locator("#result-title")).to_have_text("Restore succeeded", timeout=90_000)
        expect(page.locator("#tracker-events")).to_contain_text("The backup's role bp_page_owner was created on the server.")
        with pg.connect("bp_roles_source") as conn:
            owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'items'").fetchone()[0]
        assert owner == "bp_page_owner"
    finally:
        context.close()
        pg.drop_db("bp_roles_source")
        with pg.connect() as conn:
            for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'bp_roles_source%'").fetchall():
                conn.execute(f'DROP DATABASE "{name}"')
            conn.execute("DROP ROLE IF EXISTS bp_page_owner")
