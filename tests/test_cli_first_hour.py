"""The command line as a new user meets it in the first hour: an upload to a
wrong address fails at once, no log lines on the terminal, listings that never
cut what must be copied, one data folder wherever a command runs."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .live import LiveServer, wait_for
from .pgserver import PASSWORD, free_port
from .tcpproxy import TcpProxy
from .tus_helpers import make_big_sqlite_backup, make_sqlite_backup, run_upload, upload_cmd

ROOT = Path(__file__).resolve().parent.parent


# -- upload: never reached vs. reached and then broken ------------------------------------

def test_an_upload_to_an_address_where_nothing_listens_fails_at_once(web_server, tmp_path):
    source = make_sqlite_backup(tmp_path / "ok.sqlite3", rows=10)
    port = free_port()  # closed: nothing listens there
    started = time.monotonic()
    done = run_upload(web_server, source, port=port, cwd=tmp_path, cache=tmp_path / "c")  # default: 10 retries
    elapsed = time.monotonic() - started
    assert done.returncode == 1
    assert f"Nothing answers at http://127.0.0.1:{port}/" in done.stderr, done.stderr
    assert "Trying again" not in done.stderr and "connection to the server was lost" not in done.stderr
    assert elapsed < 20, elapsed  # start-up of the interpreter only, not three minutes of retries


def test_a_connection_that_worked_and_broke_is_retried_and_the_upload_finishes(web_server, tmp_path):
    source = make_big_sqlite_backup(tmp_path / "big.sqlite3", megabytes=4)
    proxy = TcpProxy(web_server.port, rate=1_000_000).start()
    try:
        argv, env = upload_cmd(web_server, source, "--chunk-size", "256K", port=proxy.port, cache=tmp_path / "c")
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        # The server has answered, and a few chunks went through the slow proxy (however long the start took).
        wait_for(lambda: proxy.answered and proxy.sent > 512 * 1024 or proc.poll() is not None, 60,
                 "the first chunks of the upload")
        assert proc.poll() is None
        proxy.cut()  # the connection breaks, and for a moment nothing answers
        time.sleep(2)
        proxy.rate = None
        proxy.restore()
        out, err = proc.communicate(timeout=120)
    finally:
        proxy.cut()
    assert proc.returncode == 0, err
    assert "The connection to the server was lost." in err and "Trying again" in err
    assert "Nothing answers" not in err
    assert out.strip().startswith("bk_")


# -- a data folder of one's own, and the commands that use it ------------------------------

def run(args, env, cwd, check=True):
    result = subprocess.run([sys.executable, "-m", "dbkeeper", *args], env=env, cwd=cwd, capture_output=True,
                            text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def user_env(home, **extra):
    """A user with no dbkeeper settings at all: only their own config and data folders."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DBKEEPER_DATA_DIR")}
    return {**env, "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
            "HOME": str(home), "PYTHONPATH": str(ROOT), **extra}


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (INFO|WARNING|DEBUG) dbkeeper", re.M)


def test_commands_print_sentences_and_keep_log_lines_for_the_log_file_unless_verbose(tmp_path):
    env = user_env(tmp_path, DBKEEPER_DATA_DIR=str(tmp_path / "data-folder"))
    run(["createadmin", "ada"], env, tmp_path)
    quiet = run(["token", "create", "ada", "--name", "nightly"], env, tmp_path)
    assert quiet.stdout.startswith("dbk_") and "shown only this once" in quiet.stderr
    assert not LOG_LINE.search(quiet.stdout + quiet.stderr), quiet.stderr
    for args in (["prerestore", "list"], ["operations"], ["token", "list"], ["target", "list"]):
        listed = run(args, env, tmp_path)
        assert not LOG_LINE.search(listed.stdout + listed.stderr), (args, listed.stderr)
    refused = run(["prerestore", "drop", "nope"], env, tmp_path, check=False)
    assert refused.returncode == 1 and "no pre-restore copy named nope" in refused.stderr
    assert not LOG_LINE.search(refused.stderr)
    # The log file has what the terminal did not show.
    log_file = (tmp_path / "data-folder" / "logs" / "dbkeeper.log").read_text()
    assert "API token" in log_file and "created for ada" in log_file

    # -v (before or after the command) shows them on the terminal too.
    for args in (["-v", "token", "create", "ada"], ["token", "create", "ada", "--verbose"]):
        verbose = run(args, env, tmp_path)
        assert re.search(r"INFO dbkeeper\.access\.api_tokens .*created for ada", verbose.stderr), verbose.stderr
        assert "shown only this once" in verbose.stderr


def test_serve_records_its_data_folder_and_every_command_finds_it_from_anywhere(tmp_path):
    home = tmp_path / "home"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = user_env(home)
    data = home / "data" / "dbkeeper"
    # Before anything ran: a read-only command creates nothing and says so.
    for args in (["operations"], ["prerestore", "list"], ["token", "list"], ["target", "list"]):
        nothing = run(args, env, elsewhere)
        assert f"No data folder at {data} yet" in nothing.stdout, nothing.stdout
    assert json.loads(run(["operations", "--json"], env, elsewhere).stdout) == []
    assert not data.exists() and not (elsewhere / "dbkeeper-data").exists() and not (home / "config").exists()

    # The first write creates the user's data folder, whatever the folder the command runs in.
    run(["createadmin", "ada"], env, elsewhere)
    assert (data / "control.sqlite3").exists() and not (elsewhere / "dbkeeper-data").exists()
    empty = run(["operations"], env, tmp_path)
    assert f"No operations yet (data folder: {data})" in empty.stdout

    # serve on another folder records it; later commands, anywhere, use it.
    served = home / "served-data"
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dbkeeper", "serve", "--port", str(port), "--processes", "1",
                             "--workers", "1"], env={**env, "DBKEEPER_DATA_DIR": str(served)}, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        pointer = home / "config" / "dbkeeper" / "data-dir"
        wait_for(lambda: pointer.exists(), 60, "serve to record its data folder")
        assert pointer.read_text().strip() == str(served)
        run(["createadmin", "bea"], env, elsewhere)
        assert "bea" in run(["token", "create", "bea"], env, home).stderr
        listing = run(["token", "list"], env, elsewhere).stdout
        assert "bea" in listing
        assert "bea" not in run(["token", "list"], {**env, "DBKEEPER_DATA_DIR": str(data)}, elsewhere).stdout
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_a_host_projects_data_dir_wins(tmp_path):
    """DBKEEPER["DATA_DIR"] of a project's settings is used, whatever the environment says."""
    project = tmp_path / "project"
    project.mkdir()
    own = tmp_path / "project-data"
    (project / "hostsettings.py").write_text(
        "from dbkeeper.site.settings import *  # noqa\n"
        f"DBKEEPER = {{**DBKEEPER, 'DATA_DIR': {str(own)!r}}}\n")
    env = user_env(tmp_path, DBKEEPER_DATA_DIR=str(tmp_path / "env-data"),
                   PYTHONPATH=f"{ROOT}{os.pathsep}{project}", DJANGO_SETTINGS_MODULE="hostsettings")
    out = subprocess.run([sys.executable, "-c", "import django; django.setup()\n"
                          "from dbkeeper import conf; print(conf.data_dir_path()); conf.data_subdir('uploads')"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(own) and (own / "uploads").is_dir()


# -- listings that never cut what a person copies -----------------------------------------

LONG_NAME = "inventory_production_eu_west_prerestore_20261130_064512_7f3a9c"
LONG_TARGET = "postgresql://restore_operator:***@db-primary.eu-west.internal.example.com:5432/inventory_production"


@pytest.fixture(scope="module")
def listed(tmp_path_factory):
    """A data folder with an operation and a pre-restore copy whose names are long."""
    folder = tmp_path_factory.mktemp("listed")
    env = user_env(folder, DBKEEPER_DATA_DIR=str(folder / "data"))
    run(["migrate"], env, folder)
    code = ("import django; django.setup()\n"
            "from dbkeeper.operations.models import Operation, PreRestoreCopy\n"
            "from django.contrib.auth import get_user_model\n"
            "from dbkeeper.access.api_tokens import create_token\n"
            f"op = Operation.objects.create(target_spec='inventory', target_display={LONG_TARGET!r}, "
            "username='operator_with_a_long_name', status='succeeded', stage='done', percent=100)\n"
            f"PreRestoreCopy.objects.create(target_spec='inventory', target_display={LONG_TARGET!r}, "
            f"name={LONG_NAME!r}, operation=op)\n"
            "u = get_user_model().objects.create_user('operator_with_a_long_name', is_staff=True)\n"
            "create_token(u, name='the nightly upload from the reporting server in the basement')\n"
            "print(op.id)\n")
    op_id = subprocess.run([sys.executable, "-c", code], env={**env, "DJANGO_SETTINGS_MODULE": "dbkeeper.site.settings"},
                           capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    return env, folder, op_id


@pytest.mark.parametrize("columns", [80, 120])
def test_listings_show_whole_ids_and_names_at_any_width(listed, columns):
    env, folder, op_id = listed
    env = {**env, "COLUMNS": str(columns)}
    operations = run(["operations"], env, folder).stdout
    copies = run(["prerestore", "list"], env, folder).stdout
    tokens = run(["token", "list"], env, folder).stdout
    for text in (operations, copies, tokens):
        assert max(len(line) for line in text.splitlines()) <= columns, text
    assert op_id in operations and "succeeded" in operations
    assert LONG_NAME in copies and op_id in copies
    assert "operator_with_a_long_name" in tokens and re.search(r"dbk_[\w-]{8}…", tokens)


def test_every_listing_has_json(listed):
    env, folder, op_id = listed
    assert [o["id"] for o in json.loads(run(["operations", "--json"], env, folder).stdout)] == [op_id]
    copies = json.loads(run(["prerestore", "list", "--json"], env, folder).stdout)
    assert copies[0]["name"] == LONG_NAME and copies[0]["operation"] == op_id
    tokens = json.loads(run(["token", "list", "--json"], env, folder).stdout)
    assert tokens[0]["user"] == "operator_with_a_long_name" and "token_hash" not in tokens[0]
    assert json.loads(run(["target", "list", "--json"], env, folder).stdout) == []


# -- targets are checked when added ---------------------------------------------------------

@pytest.fixture
def target_server(tmp_path):
    return LiveServer(tmp_path / "data")


def test_a_target_is_checked_when_added_and_refused_with_the_reason(target_server, pg, tmp_path):
    server = target_server
    good = f"postgresql://postgres@127.0.0.1:{pg.port}/shop_checked"
    added = server.cli("target", "add", "shop", good, "--password-stdin", input=PASSWORD + "\n")
    assert re.search(r"PostgreSQL \d+\.\d+", added.stdout) and "role postgres (superuser)" in added.stdout
    assert "no database there yet: a restore creates it" in added.stdout and PASSWORD not in added.stdout

    wrong_password = server.cli("target", "add", "pw", good, "--password-stdin", input="not-the-password\n", check=False)
    assert wrong_password.returncode == 1
    assert "Cannot connect to postgresql://postgres:***@127.0.0.1" in wrong_password.stderr
    assert "password authentication failed" in wrong_password.stderr and "not-the-password" not in wrong_password.stderr
    closed = free_port()
    wrong_port = server.cli("target", "add", "port", f"postgresql://postgres@127.0.0.1:{closed}/shop",
                            "--password-stdin", input=PASSWORD + "\n", check=False)
    assert wrong_port.returncode == 1 and f"Cannot connect to postgresql://postgres:***@127.0.0.1:{closed}/shop" in wrong_port.stderr
    assert [t["name"] for t in json.loads(server.cli("target", "list", "--json").stdout)] == ["shop"]

    # --no-check adds one that is down for now.
    later = server.cli("target", "add", "later", f"postgresql://postgres@127.0.0.1:{closed}/shop", "--no-check",
                       "--password-stdin", input="whatever\n")
    assert "added target later" in later.stdout and "(not checked)" in later.stdout

    # A role that may not create databases could never restore there.
    with pg.connect() as conn:
        conn.execute("DROP ROLE IF EXISTS plain_login")
        conn.execute("CREATE ROLE plain_login LOGIN PASSWORD 'pw-plain'")
    try:
        weak = server.cli("target", "add", "weak", f"postgresql://plain_login:pw-plain@127.0.0.1:{pg.port}/postgres",
                          check=False)
        assert weak.returncode == 1 and "The role plain_login may not create databases" in weak.stderr
    finally:
        with pg.connect() as conn:
            conn.execute("DROP ROLE plain_login")

    # SQLite: the folder must exist and be writable.
    missing = server.cli("target", "add", "notes", f"sqlite:///{tmp_path}/nowhere/notes.db", check=False)
    assert missing.returncode == 1 and f"The folder {tmp_path}/nowhere does not exist" in missing.stderr
    notes = server.cli("target", "add", "notes", f"sqlite:///{tmp_path}/notes.db")
    assert "no database there yet" in notes.stdout
    listed = {t["name"] for t in json.loads(server.cli("target", "list", "--json").stdout)}
    assert listed == {"shop", "later", "notes"}


@pytest.mark.django_db(transaction=True)
def test_the_api_checks_a_target_unless_told_not_to(pg, tmp_path, django_user_model):
    from django.test import Client

    client = Client()
    client.force_login(django_user_model.objects.create_superuser("root", password="pw-root"))

    def add(**body):
        response = client.post("/api/targets/", body, content_type="application/json")
        return response.status_code, response.json()

    down = f"postgresql://postgres:x@127.0.0.1:{free_port()}/shop"
    status, refused = add(name="down", url=down)
    assert status == 400 and refused["error"]["code"] == "target_unreachable"
    assert refused["error"]["message"].startswith("Cannot connect to postgresql://postgres:***@127.0.0.1")
    assert add(name="odd", url=f"sqlite:///{tmp_path}/x.db", check="maybe")[0] == 400
    status, unchecked = add(name="down", url=down, check=False)
    assert status == 201 and unchecked["found"] is None
    status, checked = add(name="up", url=pg.url("shop_api"))
    assert status == 201 and checked["found"]["superuser"] is True and checked["found"]["server_version"]
    assert [t["name"] for t in client.get("/api/targets/").json()["targets"]] == ["down", "up"]


# -- a status poll answers 304 when nothing changed -----------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_status_poll_is_304_with_no_body_until_something_changes(alice):
    from django.test import Client
    from django.utils import timezone

    from dbkeeper.access import operation_tokens as tokens
    from dbkeeper.messages import N_
    from dbkeeper.operations.models import Operation

    op = Operation.objects.create(user_id=str(alice.pk), username="alice", status="running", stage="restoring",
                                  percent=10, started_at=timezone.now())
    op.add_event(N_("Restore of %(source)s into %(target)s queued."), params={"source": "a.dump", "target": "t"})
    token = tokens.issue(op)
    client = Client(HTTP_X_TEMP_TOKEN=token)
    url = f"/restore-progress/{op.id}/status/"

    first = client.get(url)
    etag = first["ETag"]
    assert first.status_code == 200 and first.json()["percent"] == 10 and etag.startswith('"')
    same = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert same.status_code == 304 and same.content == b"" and same["ETag"] == etag
    assert client.get(url, HTTP_IF_NONE_MATCH=f'W/{etag}, "other"').status_code == 304
    assert client.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200

    # The reader's language, a progress write and a new event each change the answer.
    arabic = client.get(url, HTTP_IF_NONE_MATCH=etag, HTTP_ACCEPT_LANGUAGE="ar")
    assert arabic.status_code == 200 and arabic["ETag"] != etag
    Operation.objects.filter(pk=op.pk).update(percent=20, updated_at=timezone.now())
    moved = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert moved.status_code == 200 and moved.json()["percent"] == 20
    op.add_event(N_("Restore of %(source)s into %(target)s queued."), params={"source": "b.dump", "target": "t"})
    event = client.get(url, HTTP_IF_NONE_MATCH=moved["ETag"])
    assert event.status_code == 200 and len(event.json()["events"]) == 2

    # A staff session's poll (no token) answers the same way.
    session = Client()
    session.force_login(alice)
    tagged = session.get(url)
    assert tagged.status_code == 200 and tagged["ETag"] == event["ETag"]
    assert session.get(url, HTTP_IF_NONE_MATCH=tagged["ETag"]).status_code == 304
    # A refusal is never a 304, whatever the ETag sent.
    assert Client().get(url, HTTP_IF_NONE_MATCH=etag).status_code == 401


def test_the_progress_page_sends_if_none_match_and_keeps_showing_the_state_on_304(fresh_web_server, browser, tmp_path):
    from playwright.sync_api import expect

    from .builders import make_sqlite

    server = fresh_web_server  # web only: no worker, so the restore stays queued
    server.cli("target", "add", "notes", f"sqlite:///{tmp_path}/notes.db")
    backup_id = server.python(
        "from dbkeeper.backups import store\n"
        f"print(store.add_file({str(make_sqlite(tmp_path / 'b.sqlite3', rows=5))!r}, 'b.sqlite3', move=False).id)"
    ).strip().splitlines()[-1]
    context = browser.new_context(locale="en-US")
    try:
        page = context.new_page()
        seen = []
        page.on("response", lambda r: seen.append(r.status) if "/status/" in r.url else None)
        base = server.url("").rstrip("/")
        page.goto(f"{base}/login/?next=/")
        page.fill("#id_username", "uploader")
        page.fill("#id_password", "pw-uploader")
        page.click("#login-button")
        page.wait_for_url(f"{base}/")
        page.select_option("#target", "notes")
        page.select_option("#backup", backup_id)
        page.fill("#confirm", "notes")
        page.click("#start")
        page.wait_for_url(re.compile(r"/restore-progress/op_[0-9a-f_]+/$"))
        op_id = page.url.rstrip("/").rsplit("/", 1)[-1]
        for _ in range(60):  # Playwright delivers the responses while the page waits
            if seen.count(304) >= 2:
                break
            page.wait_for_timeout(500)
        assert seen.count(304) >= 2, seen
        expect(page.locator("#tracker")).to_have_attribute("data-status", "queued")
        expect(page.locator("#tracker-notice")).to_be_hidden()
        # A change after the 304s is shown.
        server.cli("cancel", op_id)
        expect(page.locator("#result-title")).to_have_text("Restore cancelled", timeout=15000)
        assert seen[0] == 200 and seen[-1] == 200
    finally:
        context.close()


def test_a_recorded_data_folder_that_was_deleted_is_forgotten(tmp_path):
    home = tmp_path / "home"
    pointer = home / "config" / "dbkeeper" / "data-dir"
    pointer.parent.mkdir(parents=True)
    pointer.write_text(str(tmp_path / "gone") + "\n")
    nothing = run(["operations"], user_env(home), tmp_path)
    assert f"No data folder at {home / 'data' / 'dbkeeper'} yet" in nothing.stdout
    (tmp_path / "gone").mkdir()
    assert f"No operations yet (data folder: {tmp_path / 'gone'})" in run(["operations"], user_env(home), tmp_path).stdout
