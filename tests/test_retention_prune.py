"""Pruning the catalog by retention policy: policies per target (CLI), the
plan applied to the catalog (target's own backups, a schedule's backups,
protections), dry run, deletion of file + manifest + row with an audit row,
and a storage that refuses deletions (a file made immutable with chattr:
even root cannot unlink it), retried and never leaving a row without its
file."""

import json
import logging
import subprocess
from datetime import timedelta

import pytest

from dbkeeper.audit.models import AuditEntry
from dbkeeper.backups import pruning
from dbkeeper.backups.models import Backup, PendingDeletion, RetentionPolicy
from dbkeeper.backups.storage import get_storage
from dbkeeper.cli import main
from dbkeeper.operations.models import Operation

from .backup_helpers import own_storage  # noqa: F401 (fixture)
from .builders import make_sqlite
from .retention_helpers import at, files_of, stored_backup

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_storage")]

NOW = at("2026-11-30T12:00")


@pytest.fixture
def shop(settings, tmp_path):
    make_sqlite(tmp_path / "shop.db", rows=3)
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {"shop": f"sqlite:///{tmp_path / 'shop.db'}"},
                         "RETENTION_RETRY_SECONDS": 0.01}
    return "shop"


def nightly(target, days, origin="manual", start="2026-11-01T02:00"):
    first = at(start)
    return [stored_backup(target, first + timedelta(days=n), origin=origin) for n in days]


def cli(capsys, *argv):
    code = main(list(argv), configure=False)
    out = capsys.readouterr()
    return code, out.out, out.err


def immutable(path, on=True):
    if on or path.exists():
        subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True)


def state():
    storage = get_storage()
    return (sorted(Backup.objects.values_list("id", flat=True)), sorted(storage.list_names()),
            AuditEntry.objects.filter(action="prune").count(), PendingDeletion.objects.count())


# -- policies --------------------------------------------------------------------------------------------------

def test_retention_set_show_clear_from_the_command_line(shop, capsys):
    code, out, _ = cli(capsys, "retention", "set", "shop", "--keep-daily", "7", "--keep-within", "30d",
                       "--keep-monthly", "-1", "--timezone", "Europe/Paris")
    assert code == 0 and "shop: --keep-within 30d --keep-daily 7 --keep-monthly -1 (time zone Europe/Paris)" in out
    row = RetentionPolicy.objects.get(target="shop")
    assert row.policy == {"keep_daily": 7, "keep_within": "30d", "keep_monthly": -1} and row.timezone == "Europe/Paris"
    code, out, _ = cli(capsys, "retention", "show", "--json")
    assert json.loads(out)[0]["policy"] == row.policy
    code, out, _ = cli(capsys, "retention", "show")
    assert "shop" in out and "Europe/Paris" in out
    # Setting again replaces it.
    cli(capsys, "retention", "set", "shop", "--keep-last", "2")
    assert RetentionPolicy.objects.get(target="shop").policy == {"keep_last": 2}
    assert AuditEntry.objects.filter(action="retention.set", target="shop").count() == 2
    code, out, _ = cli(capsys, "retention", "clear", "shop")
    assert code == 0 and not RetentionPolicy.objects.exists()
    code, _, err = cli(capsys, "retention", "clear", "shop")
    assert code == 1 and "The target shop has no retention policy." in err


@pytest.mark.parametrize("argv, words", [
    (["nowhere", "--keep-daily", "7"], "There is no target named nowhere."),
    (["shop", "--keep-daily", "seven"], "keep_daily must be a whole number (or -1 for every period), not seven."),
    (["shop", "--keep-within", "a month"], "a month is not a duration"),
    (["shop", "--keep-last", "3", "--timezone", "Mars/Olympus"], "Mars/Olympus is not a time zone name"),
])
def test_a_bad_policy_is_refused_and_changes_nothing(shop, capsys, argv, words):
    cli(capsys, "retention", "set", "shop", "--keep-last", "5")
    before = list(RetentionPolicy.objects.values_list("target", "policy", "timezone"))
    code, _, err = cli(capsys, "retention", "set", *argv)
    assert code == 1 and words in err
    assert list(RetentionPolicy.objects.values_list("target", "policy", "timezone")) == before


# -- the plan over the catalog ---------------------------------------------------------------------------------

def test_dry_run_shows_every_backup_with_why_and_changes_nothing(shop, capsys):
    nightly("shop", range(10))
    pruning.set_policy("shop", {"keep_last": 3})
    before = state()
    code, out, _ = cli(capsys, "prune", "--dry-run")
    assert code == 0 and state() == before
    assert "keep" in out and "delete" in out and "last 3" in out and "no rule keeps it" in out
    assert "Dry run: nothing was deleted." in out
    code, out, _ = cli(capsys, "prune", "--dry-run", "--json")
    data = json.loads(out)
    assert data["dry_run"] and data["deleted"] == [] and state() == before
    actions = [b["action"] for b in data["groups"][0]["backups"]]
    assert actions == ["keep"] * 3 + ["delete"] * 7


def test_prune_deletes_file_manifest_and_row_and_records_why(shop, capsys, caplog):
    kept = nightly("shop", range(27, 30))  # 28, 29, 30 Nov
    dropped = nightly("shop", range(0, 27))
    dropped[0] = stored_backup("shop", at("2026-10-31T02:00"), roles=True)  # with a roles file beside it
    pruning.set_policy("shop", {"keep_daily": 3}, "UTC")
    caplog.set_level(logging.INFO, logger="dbkeeper.backups.pruning")
    code, out, _ = cli(capsys, "prune", "--target", "shop")
    assert code == 0 and "28 backups deleted, 0 could not be." in out
    assert sorted(Backup.objects.values_list("id", flat=True)) == sorted(b.id for b in kept)
    # Nothing of the dropped ones is left in the storage; the kept ones are whole.
    assert all(files_of(b) == [] for b in dropped)
    assert all(len(files_of(b)) == 2 for b in kept)
    rows = AuditEntry.objects.filter(action="prune", outcome="ok")
    assert rows.count() == 28 and {r.target for r in rows} == {"shop"}
    assert rows.first().details["reason"] == "Deleted by the retention policy --keep-daily 3: no rule keeps it."
    assert sum("prune: deleted backup" in r.getMessage() for r in caplog.records) == 28
    assert not PendingDeletion.objects.exists()
    # Kept ones say why.
    decisions = pruning.preview("shop", now=NOW)[0].decisions
    assert [d.reason_texts() for d in decisions] == [["daily 2026-11-30"], ["daily 2026-11-29"], ["daily 2026-11-28"]]


def test_pinned_in_use_and_newest_verified_are_never_deleted(shop):
    pinned = stored_backup("shop", "2026-10-01T02:00", pinned=True)
    verified = stored_backup("shop", "2026-10-02T02:00", verified=True)
    older_verified = stored_backup("shop", "2026-09-02T02:00", verified=True)
    in_use = stored_backup("shop", "2026-10-03T02:00")
    verifying = stored_backup("shop", "2026-10-04T02:00")
    plain = stored_backup("shop", "2026-10-05T02:00")
    newest = stored_backup("shop", "2026-11-29T02:00")
    Operation.objects.create(kind=Operation.Kind.RESTORE, status=Operation.Status.QUEUED, backup_id=in_use.id,
                             target_spec="shop", lock_key="shop-restore")
    Operation.objects.create(kind=Operation.Kind.VERIFY, status=Operation.Status.RUNNING, backup_id=verifying.id,
                             lock_key="verify-x")
    Operation.objects.create(kind=Operation.Kind.RESTORE, status=Operation.Status.SUCCEEDED, backup_id=plain.id)
    result = pruning.prune("shop", policy={"keep_last": 1}, tz="UTC", now=NOW)
    why = {d.id: d.reason_texts() for g in result.groups for d in g.decisions}
    assert why[pinned.id] == ["pinned"] and why[verified.id] == ["newest verified"]
    assert why[in_use.id] == ["in use"] and why[verifying.id] == ["in use"] and why[newest.id] == ["last 1"]
    assert sorted(result.deleted) == sorted([plain.id, older_verified.id])
    assert set(Backup.objects.values_list("id", flat=True)) == {pinned.id, verified.id, in_use.id, verifying.id,
                                                               newest.id}


def test_a_target_policy_leaves_schedule_backups_to_their_schedule(shop):
    manual = nightly("shop", range(5))
    scheduled = nightly("shop", range(5), origin="schedule:7", start="2026-11-01T03:00")
    other = nightly("shop", range(5), origin="schedule:8", start="2026-11-01T04:00")
    pruning.set_policy("shop", {"keep_last": 1})
    result = pruning.prune(now=NOW)
    assert sorted(result.deleted) == sorted(b.id for b in manual[:-1])
    # The schedule's run prunes its own backups with its own policy.
    result = pruning.prune("shop", policy={"keep_last": 2}, tz="Europe/Paris", origin="schedule:7", now=NOW)
    assert sorted(result.deleted) == sorted(b.id for b in scheduled[:-2])
    assert Backup.objects.filter(origin="schedule:8").count() == len(other)


def test_no_policy_keeps_everything(shop, capsys):
    nightly("shop", range(3))
    before = state()
    code, out, _ = cli(capsys, "prune")
    assert code == 0 and "No retention policy: nothing to prune" in out and state() == before
    code, out, _ = cli(capsys, "prune", "--target", "shop")
    assert code == 0 and "no retention policy" in out and state() == before


def test_prune_of_an_unknown_target_is_refused(shop, capsys):
    code, _, err = cli(capsys, "prune", "--target", "nowhere")
    assert code == 1 and "There is no target named nowhere." in err


# -- a storage that refuses ------------------------------------------------------------------------------------

def test_a_refused_deletion_is_retried_then_leaves_the_backup_listed_with_its_files(shop, own_storage, caplog):
    keep = stored_backup("shop", "2026-11-29T02:00")
    stuck = stored_backup("shop", "2026-11-28T02:00")
    immutable(own_storage / stuck.storage_name)
    try:
        caplog.set_level(logging.WARNING, logger="dbkeeper.backups.pruning")
        result = pruning.prune("shop", policy={"keep_last": 1}, now=NOW)
        assert result.deleted == [] and result.failed[0]["id"] == stuck.id
        assert "could not be deleted from the local storage" in result.failed[0]["error"]
        assert "It is still listed." in result.failed[0]["error"]
        assert sum("trying again" in r.getMessage() for r in caplog.records) == 2  # 3 attempts
        # Nothing changed: the row, its file and its manifest are all there; no pending mark.
        assert Backup.objects.filter(pk=stuck.id).exists() and len(files_of(stuck)) == 2
        assert not PendingDeletion.objects.exists()
        assert AuditEntry.objects.get(action="prune", backup=stuck.id).outcome == "failed"
    finally:
        immutable(own_storage / stuck.storage_name, on=False)
    result = pruning.prune("shop", policy={"keep_last": 1}, now=NOW)
    assert result.deleted == [stuck.id] and files_of(stuck) == [] and Backup.objects.get().id == keep.id


def test_a_deletion_that_fails_once_succeeds_on_retry(shop, own_storage, caplog):
    stored_backup("shop", "2026-11-29T02:00")
    flaky = stored_backup("shop", "2026-11-28T02:00")
    path = own_storage / flaky.storage_name
    immutable(path)

    class ReleaseOnRetry(logging.Handler):
        """The storage recovers while the prune waits to try again."""

        def emit(self, record):
            if "trying again" in record.getMessage():
                immutable(path, on=False)

    handler = ReleaseOnRetry()
    logging.getLogger("dbkeeper.backups.pruning").addHandler(handler)
    try:
        result = pruning.prune("shop", policy={"keep_last": 1}, now=NOW)
    finally:
        logging.getLogger("dbkeeper.backups.pruning").removeHandler(handler)
        immutable(path, on=False)
    assert result.deleted == [flaky.id] and result.failed == []
    assert files_of(flaky) == [] and not Backup.objects.filter(pk=flaky.id).exists()


def test_files_beside_a_deleted_backup_that_the_storage_keeps_are_removed_by_the_next_prune(shop, own_storage):
    stored_backup("shop", "2026-11-29T02:00")
    gone = stored_backup("shop", "2026-11-28T02:00", roles=True)
    immutable(own_storage / gone.roles_name)
    try:
        result = pruning.prune("shop", policy={"keep_last": 1}, now=NOW)
        assert result.failed[0]["code"] == "delete_incomplete"
        # The file went, so the row went with it: no row without its file. The pending mark
        # remembers the roles file and the manifest.
        assert not Backup.objects.filter(pk=gone.id).exists()
        assert files_of(gone) == [gone.roles_name, gone.storage_name + ".manifest.json"]
        assert PendingDeletion.objects.get().backup_id == gone.id
        assert AuditEntry.objects.get(action="prune", backup=gone.id).outcome == "partial"
        # rescan does not bring it back: the manifest's backup file is missing.
        from dbkeeper.backups.catalog import rescan

        assert rescan()["added"] == []
    finally:
        immutable(own_storage / gone.roles_name, on=False)
    result = pruning.prune("shop", policy={"keep_last": 1}, now=NOW)
    assert result.finished == [gone.id] and files_of(gone) == [] and not PendingDeletion.objects.exists()


def test_a_crash_between_the_file_and_the_row_is_finished_by_the_next_prune(shop):
    stored_backup("shop", "2026-11-29T02:00")
    crashed = stored_backup("shop", "2026-11-28T02:00")
    # What a prune killed right after deleting the file leaves: the pending mark, the row, no file.
    PendingDeletion.objects.create(backup_id=crashed.id, storage=crashed.storage, storage_name=crashed.storage_name,
                                   reason="test")
    get_storage().delete(crashed.storage_name)
    # Even a prune under a policy that would keep it finishes the deletion it began.
    result = pruning.prune("shop", policy={"keep_last": 5}, now=NOW)
    assert result.finished == [crashed.id]
    assert not Backup.objects.filter(pk=crashed.id).exists() and files_of(crashed) == []
    assert not PendingDeletion.objects.exists()



# -- API and page ----------------------------------------------------------------------------------------------

def client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_api_preview_and_prune(shop, alice):
    old = nightly("shop", range(5))
    pruning.set_policy("shop", {"keep_last": 2})
    client = client_for(alice)
    before = state()
    response = client.get("/api/backups/retention/?target=shop")
    assert response.status_code == 200 and state() == before
    group = response.json()["groups"][0]
    assert group["target"] == "shop" and group["kept"] == 2 and group["deleted"] == 3
    assert [b["reasons"] for b in group["backups"][:2]] == [["last 2"], ["last 2"]]
    response = client.post("/api/backups/retention/prune/", {"target": "shop", "dry_run": True},
                           content_type="application/json")
    assert response.status_code == 200 and response.json()["dry_run"] and state() == before
    response = client.post("/api/backups/retention/prune/", {"target": "shop"}, content_type="application/json")
    assert response.status_code == 200 and sorted(response.json()["deleted"]) == sorted(b.id for b in old[:3])
    assert AuditEntry.objects.filter(action="prune", username="alice").count() == 3


def test_api_refuses_bad_input_and_non_staff(shop, alice, django_user_model):
    client = client_for(alice)
    response = client.get("/api/backups/retention/?target=nowhere")
    assert response.status_code == 400 and response.json()["error"]["code"] == "target_unknown"
    response = client.post("/api/backups/retention/prune/", {"target": "nowhere"}, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "target_unknown"
    assert client.get("/api/backups/retention/prune/").status_code == 405
    carol = django_user_model.objects.create_user("carol", password="pw-carol")
    assert client_for(carol).get("/api/backups/retention/").status_code == 403


def test_the_backups_page_shows_why_each_backup_is_kept(shop, alice):
    nightly("shop", range(4))
    pinned = stored_backup("shop", "2026-10-01T02:00", pinned=True)
    pruning.set_policy("shop", {"keep_last": 2}, "Europe/Paris")
    html = client_for(alice).get("/backups/").content.decode()
    assert 'id="retention"' in html and "Policy: \u2066--keep-last 2\u2069" in html and "Europe/Paris" in html
    assert html.count('class="retention-row kept"') == 3 and html.count('class="retention-row dropped"') == 2
    assert "last 2" in html and "pinned" in html and pinned.id in html and "no rule keeps it" in html


def test_a_deletion_stopped_before_its_file_went_is_called_off_once_the_backup_is_pinned(shop):
    stored_backup("shop", "2026-11-29T02:00")
    stopped = stored_backup("shop", "2026-11-28T02:00")
    PendingDeletion.objects.create(backup_id=stopped.id, storage=stopped.storage, storage_name=stopped.storage_name,
                                   reason="test")
    Backup.objects.filter(pk=stopped.id).update(pinned=True)
    result = pruning.prune("shop", policy={"keep_last": 1}, now=NOW)
    assert result.finished == [] and result.deleted == [] and not PendingDeletion.objects.exists()
    assert Backup.objects.filter(pk=stopped.id).exists() and len(files_of(stopped)) == 2
