"""Retention of pre-restore copies on a real PostgreSQL server: a copy is
kept while it is among the last N of its target or younger than D days; the
others are dropped (database gone, row marked, audit row with the reason) by
``dbkeeper prerestore prune`` and by the watchdog at most once a minute,
never while an operation of that target is active; and the space a restore
takes (scratch copy, kept copies) in the restore plan JSON."""

import json
import logging
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from dbkeeper.audit.models import AuditEntry
from dbkeeper.cli import main
from dbkeeper.operations import prerestore, watchdog
from dbkeeper.operations.models import Operation, PreRestoreCopy
from dbkeeper.targets.postgres import sibling_name

from .backup_helpers import make_backup, own_storage  # noqa: F401 (fixture)
from .builders import make_pg_source

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_storage")]

AGES_DAYS = [0.1, 1, 3, 5, 9, 12]  # newest first


@pytest.fixture
def app(pg, pg_dbname, settings):
    make_pg_source(pg, pg_dbname, rows=50, value="live")
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {"app": pg.url(pg_dbname)},
                         "PRERESTORE_KEEP_LAST": 2, "PRERESTORE_KEEP_DAYS": 4}
    prerestore._last_run["at"] = None
    return pg_dbname


def copies_of(pg, live, ages=AGES_DAYS):
    now = timezone.now()
    made = []
    for n, age in enumerate(ages):
        name = sibling_name(live, f"prerestore_2026010{n}_000000")
        pg.create_db(name)
        made.append(PreRestoreCopy.objects.create(target_spec="app", target_display="app", name=name,
                                                  created_at=now - timedelta(days=age)))
    return made


def cli(capsys, *argv):
    code = main(list(argv), configure=False)
    return code, capsys.readouterr().out


def test_copies_are_kept_by_count_or_age_and_the_others_dropped(pg, app, capsys, caplog):
    made = copies_of(pg, app)
    before = sorted(pg.databases())
    code, out = cli(capsys, "prerestore", "prune", "--dry-run", "--json")
    data = json.loads(out)
    assert code == 0 and sorted(pg.databases()) == before and not AuditEntry.objects.filter(action="prerestore.drop")
    why = {c["name"]: (c["keep"], c["reasons"]) for c in data["copies"]}
    assert why[made[0].name] == (True, ["the last 2 copies of its target", "younger than 4 days"])
    assert why[made[1].name] == (True, ["the last 2 copies of its target", "younger than 4 days"])
    assert why[made[2].name] == (True, ["younger than 4 days"])
    assert [why[c.name][0] for c in made[3:]] == [False, False, False]

    caplog.set_level(logging.INFO, logger="dbkeeper.operations.prerestore")
    code, out = cli(capsys, "prerestore", "prune")
    assert code == 0 and "3 copy(ies) dropped, 0 could not be." in out
    left = set(pg.databases())
    assert {c.name for c in made[:3]} <= left and not {c.name for c in made[3:]} & left
    assert set(PreRestoreCopy.objects.filter(dropped_at__isnull=False).values_list("name", flat=True)) == {
        c.name for c in made[3:]}
    rows = AuditEntry.objects.filter(action="prerestore.drop", outcome="ok")
    assert sorted(r.database for r in rows) == sorted(c.name for c in made[3:])
    assert "neither among the last 2 copies of its target nor younger than 4 days" in rows.first().details["reason"]
    assert sum("dropped: it is neither" in r.getMessage() for r in caplog.records) == 3
    # The live database is untouched.
    assert app in left


def test_nothing_is_dropped_while_an_operation_of_the_target_is_active(pg, app):
    made = copies_of(pg, app)
    op = Operation.objects.create(kind=Operation.Kind.RESTORE, status=Operation.Status.QUEUED, target_spec="app",
                                  lock_key="app-lock")
    result = prerestore.prune_copies()
    assert result["dropped"] == [] and {c.name for c in made} <= set(pg.databases())
    reasons = {c["name"]: c["reasons"] for c in result["copies"]}
    assert reasons[made[5].name] == ["in use: an operation of its target is queued or running"]
    Operation.objects.filter(pk=op.pk).update(status=Operation.Status.SUCCEEDED, lock_key=None)
    assert len(prerestore.prune_copies()["dropped"]) == 3


def test_the_watchdog_prunes_at_most_once_a_minute(pg, app):
    first = copies_of(pg, app, ages=[0.1, 0.2, 10])
    watchdog.sweep()
    assert first[2].name not in pg.databases()
    late = sibling_name(app, "prerestore_20250101_000000")
    pg.create_db(late)
    PreRestoreCopy.objects.create(target_spec="app", target_display="app", name=late,
                                  created_at=timezone.now() - timedelta(days=30))
    watchdog.sweep()  # within the minute: not again
    assert late in pg.databases()
    prerestore.maybe_prune(prerestore._last_run["at"] + prerestore.PRUNE_EVERY_SECONDS + 1)
    assert late not in pg.databases()


def test_the_restore_plan_says_how_much_space_the_restore_takes(pg, app, alice):
    op = make_backup("app")
    assert op.status == "succeeded", op.error_message
    made = copies_of(pg, app, ages=[0.1, 1, 9])  # the third is past retention: not counted
    space = prerestore.restore_space_for("app", op.backup_id)
    with pg.connect() as conn:
        sizes = {name: conn.execute("SELECT pg_database_size(%s)", (name,)).fetchone()[0]
                 for name in [c.name for c in made] + [app]}
    assert space.copies == 2 and space.copies_bytes == sizes[made[0].name] + sizes[made[1].name]
    assert space.live_bytes == sizes[app] and space.scratch_bytes > 0
    client = Client()
    client.force_login(alice)
    response = client.get(f"/api/targets/app/plan/?backup={op.backup_id}")
    assert response.status_code == 200
    data = response.json()["space"]
    assert data["prerestore_copies"] == 2 and data["prerestore_bytes"] == space.copies_bytes
    assert data["text"].startswith("The scratch copy takes about ") and "the 2 pre-restore copies" in data["text"]
    # A bad backup id is refused as the restore plan refuses it.
    assert client.get("/api/targets/app/plan/?backup=bk_nothing").status_code == 404
