"""The seed's scenario, end to end in Debian's Chromium: a staff user of the
example project restores the project's own PostgreSQL database from a backup
in which that user's password hash differs. The restore deletes the user's
session (the restored database has its own sessions and accounts); tracking
continues to the end with the operation token (no redirect and no error), the
ending tells the user to sign in again, and the application then serves the
restored data.

The project runs for real: gunicorn serving example.wsgi, and
``manage.py dbkeeper worker``."""

import gzip
import json
import re

import pytest
import requests
from playwright.sync_api import expect

from .hostproject import HostProject

USER = "alice"
OLD_PASSWORD, NEW_PASSWORD = "old-Pw-1729", "new-Pw-8128"
BACKUP_OBJECTS = 100_000

pytestmark = pytest.mark.timeout(300)


def product_count(html):
    return int(re.search(r'id="product-count">(\d+) product', html).group(1))


@pytest.fixture
def project(pg, pg_dbname, tmp_path):
    project = HostProject(tmp_path / "host", pg.url(pg_dbname))
    yield project
    project.stop_all()


@pytest.fixture
def backup(pg, pg_dbname, project, tmp_path):
    """A fixture of the same project, made elsewhere: more data, and alice
    with another password (so another hash)."""
    source = project.using(pg.url(f"{pg_dbname}__src"))
    pg.create_db(f"{pg_dbname}__src")
    source.manage("migrate", "-v0")
    source.manage("seed_shop", "--objects", BACKUP_OBJECTS, "--seed", "5")
    source.python(
        "from django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.create_user({USER!r}, password={NEW_PASSWORD!r}, is_staff=True)\n"
    )
    path = tmp_path / "shop-backup.json.gz"
    source.manage("dbkeeper", "backup", "--output", path)
    products = int(source.python("from shop.models import Product\nprint(Product.objects.count())").strip())
    pg.drop_db(f"{pg_dbname}__src")
    objects = len(json.loads(gzip.decompress(path.read_bytes())))
    return path, products, objects


def test_staff_user_restores_the_applications_own_database_in_chromium(pg, pg_dbname, project, backup, context):
    backup_path, backup_products, backup_objects = backup
    pg.create_db(pg_dbname)
    project.manage("migrate", "-v0")
    project.manage("dbkeeper", "migrate")
    project.manage("seed_shop", "--objects", "60", "--seed", "9")
    project.python(
        "from django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.create_user({USER!r}, password={OLD_PASSWORD!r}, is_staff=True)\n"
    )
    hash_before = project.python(
        f"from django.contrib.auth import get_user_model\nprint(get_user_model().objects.get(username={USER!r}).password)").strip()
    backup_id = project.python(
        "from dbkeeper.backups import store\n"
        f"print(store.add_file({str(backup_path)!r}, 'shop-backup.json.gz', move=False).id)"
    ).strip().splitlines()[-1]
    project.start_web()
    project.start_worker()
    base = project.url("")
    live_products = product_count(requests.get(f"{base}/", timeout=10).text)
    assert live_products != backup_products

    page = context.new_page()

    # Signs in on the application's own page, then opens the restore page under its prefix.
    page.goto(f"{base}/accounts/login/?next=/odoo-db-manager/")
    page.fill("#id_username", USER)
    page.fill("#id_password", OLD_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/odoo-db-manager/")

    page.select_option("#target", "application")
    page.select_option("#backup", backup_id)
    expect(page.locator("#backup-info")).to_be_visible()
    expect(page.locator("#backup-info")).to_contain_text("Django fixture")
    page.fill("#confirm", "application")
    seen = []  # every answer the page gets from here to the end of the restore
    page.on("response", lambda r: seen.append((r.status, r.url)))
    page.click("#start")
    page.wait_for_url(re.compile(r"/odoo-db-manager/restore-progress/op_[0-9a-f_]+/$"))
    op_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    expect(page.locator("#tracker")).to_have_attribute("data-status", "running", timeout=30_000)
    # While the backup is restored into the scratch copy, the application and
    # the user's session are untouched.
    during = context.request.get(f"{base}/")
    assert f"Signed in as {USER}." in during.text() and product_count(during.text()) == live_products
    # Progress counts the backup's objects.
    expect(page.locator("#tracker-count")).to_contain_text(f"of {backup_objects:,} objects", timeout=60_000)

    expect(page.locator("#tracker-result")).to_be_visible(timeout=180_000)
    expect(page.locator("#result-title")).to_have_text("Restore succeeded")
    expect(page.locator("#tracker-result")).to_contain_text(
        "The restored database has its own accounts and sessions: sign in again.")
    expect(page.locator("#tracker-bar")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#tracker-alert")).to_be_hidden()

    # No redirect (to the login page) and no error reached the page during the whole restore;
    # 304 is the status poll's "nothing changed".
    assert seen and not [s for s in seen if 300 <= s[0] < 400 and s[0] != 304], seen
    status_polls = [s for s in seen if "/status/" in s[1]]
    assert status_polls and not [s for s in status_polls if s[0] >= 400], status_polls
    # The user's session went with the restore: tracking ended on the operation token.
    web_log = project.log_text("web")
    polls = re.findall(rf"status op={op_id} auth=(\w+) user=\S+ token=\S+ code=(\d+)", web_log)
    assert polls and polls[-1] == ("operation_token", "200"), polls
    gone = context.request.get(f"{base}/odoo-db-manager/api/operations/")
    assert gone.status == 401 and gone.json()["session_expired"] is True

    # The application serves the restored data; its accounts are the backup's.
    page.goto(f"{base}/")
    assert product_count(page.content()) == backup_products
    expect(page.locator("body")).to_contain_text("Sign in")
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", USER)
    page.fill("#id_password", OLD_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("form")).to_contain_text("Please enter a correct username and password")
    page.fill("#id_username", USER)
    page.fill("#id_password", NEW_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    expect(page.locator("body")).to_contain_text(f"Signed in as {USER}.")

    hash_after = project.python(
        f"from django.contrib.auth import get_user_model\nprint(get_user_model().objects.get(username={USER!r}).password)").strip()
    assert hash_after != hash_before
    # dbkeeper's record of the restore is intact in its own database.
    ending = project.python_json(
        "import json\nfrom dbkeeper.operations.models import Operation\n"
        f"op = Operation.objects.get(pk={op_id!r})\n"
        "print(json.dumps([op.status, op.username, op.result.get('sign_in_again'), op.events.count()]))"
    )
    assert ending[:3] == ["succeeded", USER, True] and ending[3] >= 5
