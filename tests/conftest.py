"""Fixtures shared by the test modules: the PostgreSQL server, the staff users
the web tests act as, the standalone server and Debian's Chromium."""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

from .live import start_live_server, wait_for
from .pgserver import PgServer, free_port
from .pgsources import custom_source, plain_source, slow_dumps  # noqa: F401 (fixtures for the engine tests)
from .s3server import s3_bucket, s3_server, s3_settings  # noqa: F401 (fixtures for the S3 tests)

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
UPLOADER, UPLOADER_PASSWORD = "uploader", "pw-uploader"

# No test reads or writes the user's own dbkeeper folders: `dbkeeper serve`
# records its data folder under $XDG_CONFIG_HOME, and the default data folder
# is under $XDG_DATA_HOME (tests name theirs with DBKEEPER_DATA_DIR).
_HOME = tempfile.mkdtemp(prefix="dbkeeper-test-home-")
os.environ["XDG_CONFIG_HOME"] = os.path.join(_HOME, "config")
os.environ["XDG_DATA_HOME"] = os.path.join(_HOME, "data")


@pytest.fixture(autouse=True)
def default_language():
    """Every test starts in the default language: a request made with Django's
    test client leaves the language LocaleMiddleware activated for it (Arabic,
    say) active in the thread, and a later test would render in it."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(scope="session")
def pg():
    """One real PostgreSQL server for the whole test session."""
    server = PgServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_dbname(pg, request):
    """A database name unique to the test; dropped afterwards with its scratch and pre-restore siblings."""
    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40]
    pg.drop_db(name)
    yield name
    from dbkeeper.targets.postgres import is_sibling

    for db in pg.databases():
        if db == name or is_sibling(name, db):
            pg.drop_db(db)


# -- users of the test database (Django's test client) --------------------------------

@pytest.fixture
def alice(django_user_model):
    """The staff user most web tests act as."""
    return django_user_model.objects.create_user("alice", password="pw-alice", is_staff=True,
                                                 email="alice@example.org")


@pytest.fixture
def bob(django_user_model):
    """Another staff user, for what one user must not see of another's."""
    return django_user_model.objects.create_user("bob", password="pw-bob", is_staff=True)


# -- the standalone server ---------------------------------------------------------------

@pytest.fixture(scope="module")
def web_server(tmp_path_factory):
    """The web process on a data folder of its own, shared by a module's tests;
    staff user ``uploader`` with an API token in ``web_server.token``."""
    server = start_live_server(tmp_path_factory.mktemp("live") / "data", UPLOADER, UPLOADER_PASSWORD,
                               token_name="tests")
    yield server
    server.stop_all()


@pytest.fixture
def fresh_web_server(tmp_path):
    """Like ``web_server``, but new for each test (for tests that count what is stored)."""
    server = start_live_server(tmp_path / "data", UPLOADER, UPLOADER_PASSWORD, token_name="tests")
    yield server
    server.stop_all()


@pytest.fixture(scope="module")
def working_site(tmp_path_factory):
    """Web, worker and watchdog on a data folder of their own, shared by a
    module's tests; staff user ``uploader`` (password ``UPLOADER_PASSWORD``)."""
    server = start_live_server(tmp_path_factory.mktemp("working") / "data", UPLOADER, UPLOADER_PASSWORD,
                               everything=True)
    yield server
    server.stop_all()


def add_pg_target(server, pg, name, database):
    """A configured target ``name`` for ``database`` on the test server, its password given on stdin."""
    from .pgserver import PASSWORD

    server.cli("target", "add", name, f"postgresql://postgres@127.0.0.1:{pg.port}/{database}", "--password-stdin",
               input=PASSWORD + "\n")
    return name


# -- Debian's Chromium -------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    """A fresh browser profile (cookies, localStorage) in English."""
    ctx = browser.new_context(locale="en-US")
    yield ctx
    ctx.close()


@pytest.fixture
def redis_url(tmp_path):
    """A throwaway Redis server on loopback, for the Redis queue."""
    import redis

    port = free_port()
    proc = subprocess.Popen([shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)

    def answers():
        try:
            return client.ping()
        except redis.RedisError:
            return False

    try:
        wait_for(answers, 10, "redis")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait()
