"""The running application sees its restored database at once.

The example project, served by gunicorn (one process, two threads) with kept
connections (CONN_MAX_AGE = 600) checked before reuse as the README says,
answers its front page without pause while ``manage.py dbkeeper restore
--target alias:default`` replaces its own database, on SQLite and on
PostgreSQL: no answer is a server error, every request that starts after the
restore ended counts the backup's products, and a sign-in after the restore
writes its session into the restored database."""

import re
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass

import pytest
import requests

from .hostproject import HostProject
from .live import LiveServer
from .pgserver import free_port

pytestmark = pytest.mark.timeout(300)

LIVE_OBJECTS, BACKUP_OBJECTS = 200, 20
USER, PASSWORD = "restorer", "pw-restorer-1"
KEPT = {"EXAMPLE_CONN_MAX_AGE": 600}


@dataclass
class Answer:
    started: float
    status: int | None  # None: no answer at all
    products: int | None


class Load:
    """Clients that ask for the front page (without pause, or ``pause`` seconds
    apart), each on its own keep-alive connection, and write down every answer."""

    def __init__(self, url, clients=3, pause=0.0):
        self.url, self.clients, self.pause = url, clients, pause
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self):
        with requests.Session() as session:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = session.get(self.url, timeout=30)
                except requests.RequestException:
                    self.answers.append(Answer(started, None, None))
                    continue
                found = re.search(r'id="product-count">(\d+) product', response.text)
                self.answers.append(Answer(started, response.status_code, int(found.group(1)) if found else None))
                self._stop.wait(self.pause)

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def serve(project):
    """gunicorn on the project: one process, two threads (so two kept connections)."""
    project.port = free_port()
    project._spawn("web", [sys.executable, "-m", "gunicorn", "example.wsgi:application", "--bind",
                           f"127.0.0.1:{project.port}", "--workers", "1", "--worker-class", "gthread",
                           "--threads", "2", "--access-logfile", "-"])
    LiveServer.wait_http(project.url("/"), ready=lambda response: response.status_code == 200,
                         log=lambda: project.log_text("web"))


def seed(project, objects, user=False):
    project.manage("migrate", "-v0")
    project.manage("seed_shop", "--objects", objects, "--seed", "3")
    if user:
        project.python("from django.contrib.auth import get_user_model\n"
                       f"get_user_model().objects.create_user({USER!r}, password={PASSWORD!r})\n")
    return int(project.python("from shop.models import Product\nprint(Product.objects.count())").strip())


def sign_in(project):
    with requests.Session() as session:
        session.get(project.url("/accounts/login/"), timeout=10).raise_for_status()
        answer = session.post(project.url("/accounts/login/"), timeout=10, allow_redirects=False, data={
            "username": USER, "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]})
        assert answer.status_code == 302, answer.text[:2000]
        return session.cookies["sessionid"]


def restore_while_serving(project, backup, **load):
    """Restore ``backup`` into the project's own database while clients keep asking;
    returns the moment the restore had ended and every answer."""
    assert "dbkeeper.W001" not in project.manage("check").stderr  # the example follows the README
    serve(project)
    with Load(project.url("/"), **load) as load:
        time.sleep(1.5)
        result = project.manage("dbkeeper", "restore", backup, "--target", "alias:default", "--yes")
        ended = time.monotonic()
        assert "Restored" in result.stderr, result.stderr
        time.sleep(5)
    return ended, load.answers


def assert_served_throughout(project, ended, answers, live_products, backup_products):
    failed = [a for a in answers if a.status is None or a.status >= 500]
    assert not failed, f"{len(failed)} of {len(answers)} answers failed:\n" + project.log_text("web")[-5000:]
    assert {a.status for a in answers} == {200}
    before = [a for a in answers if a.started < ended]
    after = [a for a in answers if a.started > ended]
    assert before and before[0].products == live_products
    assert len(after) >= 15, len(after)
    assert {a.products for a in after} == {backup_products}


def assert_sign_in_writes_into_the_restored_database(project):
    session_key = sign_in(project)
    stored = project.python(
        "from django.contrib.sessions.models import Session\nfrom django.contrib.auth import get_user_model\n"
        f"print(Session.objects.filter(session_key={session_key!r}).count(), "
        f"get_user_model().objects.get(username={USER!r}).last_login is not None)"
    ).strip()
    assert stored == "1 True"


@pytest.fixture
def projects(tmp_path):
    made = []

    def make(name, database_url=None, **env):
        project = HostProject(tmp_path / name, database_url, **env)
        made.append(project)
        return project

    yield make
    for project in made:
        project.stop_all()


@pytest.mark.parametrize("kind", ["sqlite-file", "fixture"])
def test_sqlite_application_sees_its_restored_database_at_once(projects, tmp_path, kind):
    source = projects("source")
    backup_products = seed(source, BACKUP_OBJECTS, user=True)
    if kind == "sqlite-file":
        backup = tmp_path / "shop.sqlite3"
        with sqlite3.connect(source.data_dir / "example.sqlite3") as db, sqlite3.connect(backup) as out:
            db.backup(out)
        db.close()
        out.close()
    else:
        backup = tmp_path / "shop.json.gz"
        source.manage("dbkeeper", "backup", "--output", backup)

    live = projects("host", **KEPT)
    live_products = seed(live, LIVE_OBJECTS)
    assert live_products != backup_products
    ended, answers = restore_while_serving(live, backup)

    assert_served_throughout(live, ended, answers, live_products, backup_products)
    assert_sign_in_writes_into_the_restored_database(live)
    # And the pre-restore copy is the database as it was, untouched by what the application did since.
    [copy] = [p for p in live.data_dir.iterdir() if p.name.startswith("example.sqlite3.prerestore-")]
    with sqlite3.connect(copy) as db:
        assert db.execute("SELECT count(*) FROM shop_product").fetchone()[0] == live_products
        assert db.execute("SELECT count(*) FROM django_session").fetchone()[0] == 0
    db.close()


def test_postgresql_application_sees_its_restored_database_at_once(pg, pg_dbname, projects, tmp_path):
    pg.create_db(f"{pg_dbname}__src")
    source = projects("source", pg.url(f"{pg_dbname}__src"))
    backup_products = seed(source, BACKUP_OBJECTS, user=True)
    backup = tmp_path / "shop.json.gz"
    source.manage("dbkeeper", "backup", "--output", backup)
    pg.drop_db(f"{pg_dbname}__src")

    pg.create_db(pg_dbname)
    live = projects("host", pg.url(pg_dbname), **KEPT)
    live_products = seed(live, LIVE_OBJECTS)
    assert live_products != backup_products
    # Renaming a database needs its sessions ended, and a query running in that
    # instant would fail: the swap ends each session once it has been idle for a
    # moment (between requests). So the clients here pause between requests, as
    # people do; without pause the threads are never idle and the swap ends them
    # anyway after a few seconds.
    ended, answers = restore_while_serving(live, backup, clients=2, pause=0.3)

    assert_served_throughout(live, ended, answers, live_products, backup_products)
    assert_sign_in_writes_into_the_restored_database(live)
