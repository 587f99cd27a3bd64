"""What the schedule tests share: SQLite targets, a simulated clock, and
consumers that run the queued backups as the worker would."""

import threading
from datetime import datetime, timedelta, timezone

import pytest

from dbkeeper.operations import runner
from dbkeeper.operations.models import Operation

from .builders import make_sqlite

UTC = timezone.utc


def minute(text) -> datetime:
    """'2026-11-30T10:00' (UTC) as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def at(base: datetime, minutes=0, seconds=0) -> datetime:
    return base + timedelta(minutes=minutes, seconds=seconds)


@pytest.fixture
def sqlite_targets(tmp_path, settings):
    """Five SQLite databases as configured targets t0..t4 (each its own "server"), on a data folder of the test's own."""
    names = {}
    for i in range(5):
        path = make_sqlite(str(tmp_path / f"db{i}.sqlite3"), rows=20)
        names[f"t{i}"] = f"sqlite:///{path}"
    settings.DBKEEPER = {**settings.DBKEEPER, "DATA_DIR": str(tmp_path / "data"), "TARGETS": names,
                         "SCHEDULE_STARTS_PER_MINUTE": 100}
    return sorted(names)


def run_queued(consumers=1):
    """Run every queued operation as ``consumers`` workers would, each offered
    every operation (as a redelivered task would be): one claims it."""
    ids = list(Operation.objects.filter(status=Operation.Status.QUEUED).values_list("id", flat=True))
    errors = []

    def consume():
        try:
            for op_id in ids:
                runner.run(op_id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=consume) for _ in range(consumers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return ids
