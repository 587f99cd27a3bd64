"""The rules of starting a restore live in operations/service.py: the API and
the command line go through them and refuse the same bad input with the same
code, before anything is recorded (a queue that is down: the operation is
recorded as failed, and the target is free again)."""

import os
import pty
import subprocess
import sys

import pytest
from django.test import Client
from huey import RedisHuey

from dbkeeper.access.operation_tokens import OperationToken
from dbkeeper.backups import store
from dbkeeper.cli import build_parser
from dbkeeper.errors import DbkeeperError
from dbkeeper.operations import service
from dbkeeper.operations.models import Operation
from dbkeeper.targets.models import Target
from dbkeeper.operations.queue import huey

from .builders import make_sqlite
from .pgserver import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw-alice", is_staff=True)


@pytest.fixture
def backup(tmp_path):
    return store.add_file(make_sqlite(tmp_path / "notes.sqlite3", rows=20), "notes.sqlite3", move=False)


@pytest.fixture
def target(tmp_path):
    Target.objects.create(name="notes", url=f"sqlite:///{tmp_path / 'live.sqlite3'}")
    return "notes"


@pytest.fixture
def drained():
    yield
    huey.flush()


@pytest.fixture
def queue_down(monkeypatch):
    """The queue's storage is a Redis where nothing listens."""
    monkeypatch.setattr(huey, "storage", RedisHuey("dbkeeper", url=f"redis://127.0.0.1:{free_port()}/0").storage)


def api(user, **body):
    client = Client()
    client.force_login(user)
    response = client.post("/api/restores/", body, content_type="application/json")
    return response.status_code, response.json()


def cli(*argv) -> DbkeeperError:
    """``dbkeeper restore ...`` as the command runs it (in this process, so
    that it sees this test's control database); returns what it refused with."""
    args = build_parser().parse_args(["restore", *argv])
    with pytest.raises(DbkeeperError) as refused:
        args.func(args)
    return refused.value


def nothing_recorded():
    return not Operation.objects.exists() and not OperationToken.objects.exists()


def test_unknown_target(alice, backup, target):
    status, data = api(alice, backup_id=backup.id, target="nowhere", confirm="nowhere")
    assert (status, data["error"]["code"]) == (400, "target_unknown")
    refused = cli("--backup", backup.id, "--target", "nowhere", "--yes")
    assert refused.code == "target_unknown" and refused.message == data["error"]["message"]
    assert refused.message == "There is no target named nowhere."
    assert nothing_recorded()


def test_missing_backup(alice, target, tmp_path):
    status, data = api(alice, backup_id="bk_nope", target=target, confirm=target)
    assert (status, data["error"]["code"]) == (404, "backup_missing")
    refused = cli("--backup", "bk_nope", "--target", target, "--yes")
    assert refused.code == "backup_missing" and refused.message == data["error"]["message"]
    # A file that is not there is a missing backup too.
    refused = cli(str(tmp_path / "gone.sqlite3"), "--target", target, "--yes")
    assert refused.code == "backup_missing" and refused.message == "The backup file gone.sqlite3 does not exist."
    assert nothing_recorded()


def test_wrong_kind_of_target(alice, backup, tmp_path):
    Target.objects.create(name="pgdb", url="postgresql://app@127.0.0.1:5432/shop")
    status, data = api(alice, backup_id=backup.id, target="pgdb", confirm="pgdb")
    assert (status, data["error"]["code"]) == (400, "wrong_target_kind")
    assert data["error"]["message"] == "A SQLite database cannot be restored into a postgresql database."
    refused = cli("--backup", backup.id, "--target", "pgdb", "--yes")
    assert refused.code == "wrong_target_kind" and refused.message == data["error"]["message"]
    # The same for a file: refused before anything is recorded, not later in the worker.
    refused = cli(str(make_sqlite(tmp_path / "file.sqlite3", rows=2)), "--target", "pgdb", "--yes")
    assert refused.code == "wrong_target_kind" and refused.message == data["error"]["message"]
    assert nothing_recorded()


def test_wrong_confirmation(alice, backup, target):
    for wrong in ("", "note", "NOTES"):
        status, data = api(alice, backup_id=backup.id, target=target, confirm=wrong)
        assert (status, data["error"]["code"]) == (400, "not_confirmed")
        assert data["error"]["message"] == "To confirm that notes will be replaced, type its name exactly."
        with pytest.raises(DbkeeperError) as refused:
            service.start_restore(target=target, backup_id=backup.id, confirm=wrong, named_only=True)
        assert refused.value.code == "not_confirmed" and refused.value.message == data["error"]["message"]
    assert nothing_recorded()


def test_the_command_line_asks_for_the_same_confirmation(tmp_path):
    """Run as a user runs it, at a terminal, typing the wrong name."""
    backup = make_sqlite(tmp_path / "b.sqlite3", rows=3)
    live = make_sqlite(tmp_path / "live.sqlite3", rows=2, value="old")
    before = live.read_bytes()
    env = {**os.environ, "DBKEEPER_DATA_DIR": str(tmp_path / "data")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "dbkeeper", "restore", str(backup), "--target", "notes"],
                                env=env, stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The target is not configured in this data folder: refused before the question.
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1 and "There is no target named notes." in err

        proc = subprocess.Popen([sys.executable, "-m", "dbkeeper", "restore", str(backup), "--target", f"sqlite:///{live}"],
                                env=env, stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.write(controller, b"live\n")
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(controller)
        os.close(terminal)
    assert proc.returncode == 1, err
    assert f"To confirm that {live} will be replaced, type its name exactly." in err
    assert live.read_bytes() == before


def test_queue_down(alice, backup, target, queue_down, caplog):
    status, data = api(alice, backup_id=backup.id, target=target, confirm=target)
    assert (status, data["error"]["code"]) == (503, "queue_down")
    assert data["error"]["message"] == (
        "The restore could not be queued: the task queue is not reachable. Nothing was changed.")
    op = Operation.objects.get()
    assert (op.status, op.error_code, op.lock_key) == ("failed", "queue_down", None)

    # The target is free again: the command line meets the same queue, not a busy target.
    refused = cli("--backup", backup.id, "--target", target, "--yes", "--queue")
    assert refused.code == "queue_down" and refused.message == data["error"]["message"]
    assert [o.status for o in Operation.objects.all()] == ["failed", "failed"]
    # Refused by Redis, not by anything else on the way.
    assert caplog.text.count("redis.exceptions.ConnectionError") == 2


def test_the_same_call_starts_it_when_all_is_well(alice, backup, target, drained, capsys):
    args = build_parser().parse_args(["restore", "--backup", backup.id, "--target", target, "--yes", "--queue"])
    assert args.func(args) == 0
    op = Operation.objects.get()
    assert capsys.readouterr().out.strip() == op.id
    assert (op.status, op.backup_id, op.target_spec) == ("queued", backup.id, "notes")
    status, data = api(alice, backup_id=backup.id, target=target, confirm=target)
    assert (status, data["error"]["code"]) == (409, "target_busy")


def test_refusals_are_in_the_readers_language(alice, backup, target):
    client = Client()
    client.force_login(alice)
    for body in ({"backup_id": backup.id, "target": "nowhere", "confirm": "nowhere"},
                 {"backup_id": backup.id, "target": target, "confirm": "x"}):
        response = client.post("/api/restores/", body, content_type="application/json", HTTP_ACCEPT_LANGUAGE="ar")
        message = response.json()["error"]["message"]
        assert any("\u0600" <= c <= "\u06ff" for c in message), message
        assert body["target"] in message or target in message
    assert nothing_recorded()
