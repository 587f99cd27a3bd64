"""dbkeeper as a reusable app inside a Django project: the README's section
followed word for word in a new project; and the example project restoring its
own PostgreSQL database through a real worker while gunicorn serves it."""

import json
import re
import sqlite3
import subprocess
import sys
import time

import pytest
import requests

from .hostproject import ROOT, HostProject

pytestmark = pytest.mark.timeout(300)


def readme_section():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Use inside your Django project", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, re.S)


def control_db_rows(path, sql, params=()):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def wait_finished(control_path, op_id, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = control_db_rows(control_path, "SELECT status, message, result FROM dbkeeper_operation WHERE id = ?", (op_id,))
        if rows and rows[0][0] in ("succeeded", "failed", "cancelled"):
            status, message, result = rows[0]
            return status, message, json.loads(result)
        time.sleep(0.5)
    raise AssertionError(f"operation {op_id} did not finish within {timeout} s")


class NewProject:
    """A project made by ``django-admin startproject``, run with this venv's Python."""

    def __init__(self, folder):
        self.folder = folder
        folder.mkdir(parents=True)
        subprocess.run([sys.executable, "-m", "django", "startproject", "mysite", str(folder)], check=True)
        self.env = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "PYTHONPATH": str(folder),
                    "DJANGO_SETTINGS_MODULE": "mysite.settings", "LANG": "C.UTF-8"}
        self.procs = []

    def shell_line(self, line):
        """Run one line of the README's shell blocks (``python`` is this venv's)."""
        line = line.split("  #", 1)[0].strip()
        background = line.endswith("&")
        argv = line.rstrip("&").split()
        assert argv[0] == "python"
        argv[0] = sys.executable
        if background:
            out = open(self.folder / f"{argv[3]}.log", "ab")
            self.procs.append(subprocess.Popen(argv, cwd=self.folder, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                               start_new_session=True))
            return None
        result = subprocess.run(argv, cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
        return result

    def python(self, code):
        result = subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + code], cwd=self.folder,
                                env=self.env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""

    def stop(self):
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_the_readme_section_works_as_written(tmp_path):
    blocks = readme_section()
    settings_block = next(code for lang, code in blocks if lang == "python" and code.startswith("# settings.py"))
    urls_block = next(code for lang, code in blocks if lang == "python" and code.startswith("# urls.py"))
    setup_lines, command_lines = [code.strip().splitlines() for lang, code in blocks if lang == "sh"]

    project = NewProject(tmp_path / "site")
    with open(project.folder / "mysite" / "settings.py", "a") as fh:
        fh.write("\n" + settings_block)
    with open(project.folder / "mysite" / "urls.py", "a") as fh:
        fh.write("\n" + urls_block)
    try:
        for line in setup_lines:
            project.shell_line(line)
        project.python(
            "from django.contrib.auth.models import User\n"
            "User.objects.create_user('staff', 'before@example.com', 'pw', is_staff=True)\n"
        )
        backup_line = next(l for l in command_lines if " backup " in l)
        restore_line = next(l for l in command_lines if " restore " in l)
        result = project.shell_line(backup_line)
        assert "Wrote" in result.stderr and (project.folder / "shop.json.gz").exists()
        project.python("from django.contrib.auth.models import User\nUser.objects.filter(username='staff').update(email='after@example.com')")

        # The restore page is mounted under the project's prefix and signs people in with dbkeeper's page.
        pages = json.loads(project.python(
            "import json\nfrom django.test.utils import setup_test_environment\nsetup_test_environment()\n"
            "from django.test import Client\nfrom django.contrib.auth.models import User\n"
            "c = Client()\nanonymous = c.get('/odoo-db-manager/')\n"
            "c.force_login(User.objects.get(username='staff'))\npage = c.get('/odoo-db-manager/')\n"
            "print(json.dumps([anonymous.status_code, anonymous['Location'], page.status_code, 'application' in page.content.decode()]))"
        ))
        assert pages == [302, "/odoo-db-manager/login/?next=/odoo-db-manager/", 200, True]

        # The restore through the worker that the README started (as the page does).
        op_id = project.python(
            "import os\nfrom dbkeeper.operations import service\n"
            "print(service.start_restore(os.path.abspath('shop.json.gz'), 'application', confirm='application').operation.id)"
        )
        status, message, result = wait_finished(project.folder / "dbkeeper.sqlite3", op_id, timeout=120)
        assert status == "succeeded", message
        assert result["sign_in_again"] is True and "Sign in again" in message
        assert project.python("from django.contrib.auth.models import User\nprint(User.objects.get(username='staff').email)") == "before@example.com"

        # And from the command line, as written.
        project.python("from django.contrib.auth.models import User\nUser.objects.filter(username='staff').update(email='again@example.com')")
        result = project.shell_line(restore_line)
        assert "Restored" in result.stderr
        assert project.python("from django.contrib.auth.models import User\nprint(User.objects.get(username='staff').email)") == "before@example.com"
        # dbkeeper's records are in their own database, and only there.
        assert {"dbkeeper_operation", "dbkeeper_event"} <= {r[0] for r in control_db_rows(
            project.folder / "dbkeeper.sqlite3", "SELECT name FROM sqlite_master WHERE type='table'")}
        assert not control_db_rows(project.folder / "db.sqlite3", "SELECT name FROM sqlite_master WHERE name LIKE 'dbkeeper%'")
    finally:
        project.stop()


@pytest.fixture
def example(pg, pg_dbname, tmp_path):
    project = HostProject(tmp_path / "host", pg.url(pg_dbname))
    yield project
    project.stop_all()


def test_the_worker_restores_the_applications_own_database_and_the_application_serves_it(pg, pg_dbname, example, tmp_path):
    # The backup: the same project's data from elsewhere (another database).
    source = example.using(pg.url(f"{pg_dbname}__src"))
    pg.create_db(f"{pg_dbname}__src")
    source.manage("migrate", "-v0")
    source.manage("seed_shop", "--objects", "150", "--seed", "5")
    backup = tmp_path / "shop.json.gz"
    source.manage("dbkeeper", "backup", "--output", backup)
    restored_products = source.python("from shop.models import Product\nprint(Product.objects.count())").strip()
    pg.drop_db(f"{pg_dbname}__src")

    pg.create_db(pg_dbname)
    example.manage("migrate", "-v0")
    example.manage("dbkeeper", "migrate")
    example.manage("seed_shop", "--objects", "40", "--seed", "9")
    example.start_web()
    example.start_worker()
    before = requests.get(example.url("/"), timeout=10)
    live_products = re.search(r'id="product-count">(\d+) product', before.text).group(1)
    assert live_products != restored_products

    op_id = example.python(
        "from dbkeeper.operations import service\n"
        f"print(service.start_restore({str(backup)!r}, 'application', confirm='application').operation.id)"
    ).strip().splitlines()[-1]
    control = example.data_dir / "dbkeeper.sqlite3"
    status, message, result = wait_finished(control, op_id)

    assert status == "succeeded", message + example.log_text("worker")
    assert result["sign_in_again"] is True and result["prerestore"]
    # The application's next request is served from the restored database.
    after = requests.get(example.url("/"), timeout=10)
    assert after.status_code == 200
    assert f'id="product-count">{restored_products} product' in after.text
    # dbkeeper's records of the restore are intact, in their own database.
    events = [r[0] for r in control_db_rows(control, "SELECT message FROM dbkeeper_event WHERE operation_id = ? ORDER BY id", (op_id,))]
    assert any("succeeded" in e for e in events) and any("own database" in e for e in events)
    assert control_db_rows(control, "SELECT name FROM dbkeeper_prerestorecopy WHERE operation_id = ?", (op_id,)) == [(result["prerestore"],)]
    with pg.connect(pg_dbname) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'dbkeeper%%'").fetchone()[0] == 0
