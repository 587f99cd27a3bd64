"""The rules around a restore, in process: one restore per target, cancel
before start, the watchdog, and the pre-restore copies."""

from datetime import timedelta

import re

import pytest
from django.utils import timezone, translation

from dbkeeper.streams import human_size
from dbkeeper.errors import TargetBusy
from dbkeeper.operations import runner, service, watchdog
from dbkeeper.operations.models import Operation
from dbkeeper.operations.progress import Progress
from dbkeeper.targets.postgres import PostgresTarget
from dbkeeper.dburl import DbUrl

from .builders import make_sqlite

pytestmark = pytest.mark.django_db(transaction=True)
ARABIC = re.compile(r"[\u0600-\u06FF]")
ENGLISH_RUN = re.compile(r"[A-Za-z]+ [A-Za-z]+ [A-Za-z]+")


@pytest.fixture
def sqlite_backup(tmp_path):
    return make_sqlite(tmp_path / "backup.sqlite3", rows=50, value="new")


def test_second_restore_on_busy_target_is_refused(tmp_path, sqlite_backup):
    target = f"sqlite:///{tmp_path / 'live.db'}"
    first = service.create_restore(sqlite_backup, target)
    with pytest.raises(TargetBusy) as err:
        service.create_restore(sqlite_backup, target)
    assert first.id in err.value.message and "already running" in err.value.message
    # The same file reached by another spelling of its path is the same target.
    with pytest.raises(TargetBusy):
        service.create_restore(sqlite_backup, f"sqlite:///{tmp_path}/./live.db")


def test_lock_is_released_when_the_restore_ends(tmp_path, sqlite_backup):
    target = f"sqlite:///{tmp_path / 'live.db'}"
    op = service.create_restore(sqlite_backup, target)
    runner.run(op.id)
    op.refresh_from_db()
    assert op.status == "succeeded" and op.lock_key is None
    second = service.create_restore(sqlite_backup, target)
    assert second.status == "queued"


def test_a_restore_stores_its_sentences_as_data_shown_in_the_readers_language(tmp_path, sqlite_backup):
    op = service.create_restore(sqlite_backup, f"sqlite:///{tmp_path / 'live.db'}")
    runner.run(op.id)
    op.refresh_from_db()
    events = list(op.events.all())
    assert op.status == "succeeded" and op.message_data and all(e.data for e in events)
    assert [e.message for e in events if "table" in e.message] == [
        "The backup is a SQLite database of %s with 2 tables." % human_size(sqlite_backup.stat().st_size)]
    with translation.override("ar"):
        shown = [op.rendered_message()] + [e.rendered() for e in events]
    for english, arabic in zip([op.message] + [e.message for e in events], shown):
        # Names and paths stay as they are; no English sentence is left around them.
        assert arabic != english and ARABIC.search(arabic) and not ENGLISH_RUN.search(arabic), (english, arabic)


def test_an_empty_progress_message_stays_empty_in_every_language(tmp_path, sqlite_backup):
    op = service.create_restore(sqlite_backup, f"sqlite:///{tmp_path / 'live.db'}")
    progress = Progress(op)
    progress.message("")
    op.refresh_from_db()
    assert op.message == "" and op.message_data is None
    with translation.override("ar"):
        assert op.rendered_message() == ""


def test_cancel_before_start_changes_nothing(tmp_path, sqlite_backup):
    live = tmp_path / "live.db"
    make_sqlite(live, rows=5, value="old")
    before = live.read_bytes()
    op = service.create_restore(sqlite_backup, f"sqlite:///{live}")
    service.cancel(op)
    op.refresh_from_db()
    assert op.status == "cancelled" and op.finished and op.lock_key is None
    assert runner.run(op.id) is None  # a worker picking it up later does nothing
    assert live.read_bytes() == before
    assert "before it started" in op.error_message


def test_unknown_file_is_refused_before_anything_is_recorded(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01 not a backup" * 100)
    from dbkeeper.errors import BackupRejected

    with pytest.raises(BackupRejected) as err:
        service.create_restore(junk, f"sqlite:///{tmp_path / 'live.db'}")
    assert "not a backup" in err.value.message
    assert Operation.objects.count() == 0


def test_watchdog_fails_an_operation_whose_worker_stopped_and_drops_its_scratch(pg, pg_dbname, tmp_path, sqlite_backup):
    target = PostgresTarget(DbUrl.parse(pg.url(pg_dbname)))
    op = Operation.objects.create(
        status=Operation.Status.RUNNING, target_spec=pg.url(pg_dbname), target_display=target.display(),
        lock_key=target.lock_key(), heartbeat_at=timezone.now() - timedelta(seconds=60), started_at=timezone.now(),
    )
    scratch = target.scratch(op.id)
    scratch.create()
    Operation.objects.filter(pk=op.pk).update(scratch_name=scratch.name)
    fresh = Operation.objects.create(status=Operation.Status.RUNNING, heartbeat_at=timezone.now(), lock_key="other")

    assert watchdog.sweep() == [op.id]
    op.refresh_from_db()
    assert op.status == "failed" and op.error_code == "worker_lost" and op.lock_key is None
    assert "worker" in op.error_message and "not changed" in op.error_message
    assert scratch.name not in pg.databases()
    assert Operation.objects.get(pk=fresh.pk).status == "running"  # a live heartbeat is left alone
    assert watchdog.sweep() == []


def test_prerestore_copy_is_recorded_and_can_be_dropped(tmp_path, sqlite_backup):
    from dbkeeper.cli import main
    from dbkeeper.operations.models import PreRestoreCopy

    live = tmp_path / "live.db"
    make_sqlite(live, rows=5, value="old")
    op = service.create_restore(sqlite_backup, f"sqlite:///{live}")
    runner.run(op.id)
    copy = PreRestoreCopy.objects.get()
    assert copy.operation_id == op.id
    from pathlib import Path

    assert Path(copy.name).exists()
    assert main(["prerestore", "drop", copy.name, "--yes"], configure=False) == 0
    assert not Path(copy.name).exists()
    copy.refresh_from_db()
    assert copy.dropped_at is not None
