"""Verification of stored backups: a good backup passes; altered bytes, a
table whose rows differ from the catalog and a missing file fail with a
sentence; the scratch copy is dropped in every case (by the watchdog when the
worker died) and the outcome is recorded on the backup."""

import json
import pytest

from dbkeeper.backups import verification
from dbkeeper.backups.encryption import generate_identity
from dbkeeper.backups.models import Backup
from dbkeeper.backups.storage import get_storage
from dbkeeper.errors import DbkeeperError
from dbkeeper.operations import runner, service
from dbkeeper.operations.models import Operation

from .backup_helpers import make_backup, own_storage  # noqa: F401 (fixture)
from .builders import make_pg_source, make_sqlite

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_storage")]


@pytest.fixture
def source(pg, pg_dbname):
    name = pg_dbname + "_vsrc"
    make_pg_source(pg, name, rows=1200, value="src")
    yield name
    pg.drop_db(name)


def scratches(pg, source):
    from dbkeeper.targets.postgres import is_sibling

    return sorted(d for d in pg.databases() if "__dbk_scratch_" in d and is_sibling(source, d))


def run_verify(backup_id, **kw):
    op = verification.record(verification.plan_verify(backup_id, **kw))
    runner.run(op.id)
    op.refresh_from_db()
    return op


def made(pg, source, **options):
    op = make_backup(pg.url(source), **options)
    assert op.status == "succeeded", op.error_message
    return Backup.objects.get(pk=op.backup_id)


@pytest.mark.parametrize("fmt", ["pg_custom", "pg_plain"])
def test_a_good_backup_passes_and_the_outcome_is_recorded(pg, source, fmt):
    backup = made(pg, source, format=fmt)
    op = run_verify(backup.id)
    assert op.status == "succeeded", op.error_message
    assert op.kind == "verify" and op.percent == 100 and op.lock_key is None and op.scratch_name == ""
    assert op.result["passed"] and op.result["tables"] == 2 and op.result["rows"] == 1320
    assert "The backup is sound: its checksum matches and 2 tables restored" in op.message
    events = [e.message for e in op.events.all()]
    assert "The stored file has the size and SHA-256 of the catalog." in events
    assert "The scratch copy was removed." in events
    assert scratches(pg, source) == []
    backup.refresh_from_db()
    assert backup.verification_outcome == "passed" and backup.verified_at is not None
    assert backup.verification_operation == op.id
    from dbkeeper.audit.models import AuditEntry

    assert AuditEntry.objects.filter(action="verify.start", operation=op.id).count() == 1
    assert backup.as_dict()["verification_message"].startswith("The backup is sound")


def test_altered_bytes_fail_on_the_checksum(pg, source):
    backup = made(pg, source)
    path = get_storage(backup.storage).path(backup.storage_name)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    path.write_bytes(bytes(data))
    op = run_verify(backup.id)
    assert op.status == "failed" and op.error_code == "checksum_mismatch"
    assert "The stored file has changed since the backup was made: its SHA-256 is" in op.error_message
    assert backup.sha256 in op.error_message
    assert scratches(pg, source) == []
    backup.refresh_from_db()
    assert backup.verification_outcome == "failed" and backup.verification_message == op.error_message


def test_a_cut_file_fails_on_its_size(pg, source):
    backup = made(pg, source)
    path = get_storage(backup.storage).path(backup.storage_name)
    path.write_bytes(path.read_bytes()[:-100])
    op = run_verify(backup.id)
    assert op.error_code == "size_mismatch"
    assert f"it has {backup.size - 100} bytes, the catalog says {backup.size}" in op.error_message


def test_a_table_whose_rows_differ_from_the_catalog_fails(pg, source):
    # The catalog expects rows the restored copy does not have: a real count
    # in a real scratch copy differs from what the catalog says.
    backup = made(pg, source)
    Backup.objects.filter(pk=backup.id).update(tables={**backup.tables, "public.items": 1250})
    op = run_verify(backup.id)
    assert op.status == "failed" and op.error_code == "row_counts_differ", op.error_message
    assert op.error_message == ("1 table does not have the rows the catalog lists: "
                                "public.items has 1200 rows, the catalog says 1250.")
    assert scratches(pg, source) == []
    events = [e.message for e in op.events.all()]
    assert "The scratch copy was removed." in events
    assert "No database was replaced; the backup itself was not changed." in events
    backup.refresh_from_db()
    assert backup.verification_outcome == "failed"


def test_a_table_the_catalog_lists_but_the_backup_lacks_fails(pg, source):
    backup = made(pg, source)
    Backup.objects.filter(pk=backup.id).update(tables={**backup.tables, "public.gone": 3})
    op = run_verify(backup.id)
    assert op.error_code == "tables_missing"
    assert op.error_message == "The restored copy is missing 1 table of the backup: public.gone."


def test_a_missing_file_fails_clearly(pg, source):
    backup = made(pg, source)
    get_storage(backup.storage).path(backup.storage_name).unlink()
    op = run_verify(backup.id)
    assert op.status == "failed" and op.error_code == "backup_file_missing"
    assert op.error_message == (f"The stored file of this backup is missing: {backup.storage_name} is not in the "
                                "local storage.")
    assert scratches(pg, source) == []


def test_sqlite_and_an_encrypted_backup_verify(tmp_path, settings):
    key = tmp_path / "key.txt"
    public = generate_identity(key)
    db = tmp_path / "app.sqlite3"
    make_sqlite(db, rows=40)
    plain = made_sqlite(db)
    settings.DBKEEPER = {**settings.DBKEEPER, "AGE_RECIPIENTS": [public], "AGE_IDENTITY_FILE": str(key)}
    encrypted = made_sqlite(db)
    assert encrypted.encrypted
    for backup in (plain, encrypted):
        op = run_verify(backup.id)
        assert op.status == "succeeded", op.error_message
        assert backup.tables == {"notes": 40, "tags": 10}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.sqlite3", "data", "key.txt"]  # no scratch file left
    assert list((get_storage().root.parent / "tmp").glob("decrypted-*")) == []


def made_sqlite(db):
    op = make_backup(f"sqlite:///{db}")
    assert op.status == "succeeded", op.error_message
    return Backup.objects.get(pk=op.backup_id)


def test_refusals_record_nothing(pg, source):
    with pytest.raises(DbkeeperError) as err:
        verification.plan_verify("bk_nope")
    assert err.value.code == "backup_missing"
    backup = made(pg, source)
    Backup.objects.filter(pk=backup.id).update(target_spec="")
    with pytest.raises(DbkeeperError) as err:
        verification.plan_verify(backup.id)
    assert err.value.code == "verify_needs_target" and "Name a target" in err.value.message
    with pytest.raises(DbkeeperError) as err:
        verification.plan_verify(backup.id, target="no-such-target")
    assert err.value.code == "target_unknown"
    assert Operation.objects.filter(kind="verify").count() == 0
    # An uploaded backup (no source target) is verified next to a configured target.
    from dbkeeper.targets.models import Target

    Target.objects.create(name="shop", url=pg.url(source))
    op = run_verify(backup.id, target="shop")
    assert op.status == "succeeded", op.error_message
    assert op.target_display.endswith("/" + source)


def test_cancel_before_it_starts_and_a_dead_worker_leaves_no_scratch(pg, source, settings):
    backup = made(pg, source)
    op = verification.record(verification.plan_verify(backup.id))
    service.cancel(op)
    op.refresh_from_db()
    assert op.status == "cancelled" and op.message == "The verification was cancelled before it started."
    # A worker that died after it created the scratch copy: the watchdog drops it.
    op = verification.record(verification.plan_verify(backup.id))
    claimed = runner.claim(op.id)
    from dbkeeper import targets

    scratch = targets.resolve(claimed.target_spec).scratch(claimed.id)
    scratch.create()
    Operation.objects.filter(pk=op.id).update(scratch_name=scratch.name, heartbeat_at="2000-01-01T00:00:00Z")
    assert scratches(pg, source) == [scratch.name]
    from dbkeeper.operations import watchdog

    assert watchdog.sweep() == [op.id]
    op.refresh_from_db()
    assert op.status == "failed" and "The worker running this verification stopped" in op.error_message
    assert scratches(pg, source) == []


def test_api_verify_pin_delete_and_the_command_line(pg, tmp_path):
    import requests

    from .live import start_live_server, wait_for

    make_pg_source(pg, "bk_verify_live", rows=300, value="live")
    server = start_live_server(tmp_path / "data", "keeper", "pw-keeper", token_name="tests", everything=True)
    try:
        auth = {"Authorization": f"Bearer {server.token}"}
        server.python("from dbkeeper.targets.models import Target\n"
                      f"Target.objects.create(name='shop', url={pg.url('bk_verify_live')!r})\n")
        backup_id = server.cli("backup", "shop").stdout.strip()
        started = requests.post(server.url(f"/api/backups/{backup_id}/verify/"), json={}, headers=auth, timeout=10)
        assert started.status_code == 202, started.text
        data = started.json()
        assert data["kind"] == "verify" and data["token"] and data["backup_id"] == backup_id

        def finished():
            status = requests.get(server.url(data["status_url"]), headers={"X-Temp-Token": data["token"]},
                                  timeout=10).json()
            return status["finished"] and status

        status = wait_for(finished, 90, "the verification to finish")
        assert status["status"] == "succeeded", status
        row = requests.get(server.url(f"/api/backups/{backup_id}/"), headers=auth, timeout=10).json()
        assert row["verification_outcome"] == "passed" and row["verified_at"]
        missing = requests.post(server.url("/api/backups/bk_nope/verify/"), json={}, headers=auth, timeout=10)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "backup_missing"

        # The command line: a passing and (after the catalog's expectation changed) a failing verification.
        said = server.cli("verify", backup_id, "--json")
        assert json.loads(said.stdout)["passed"] is True
        server.python("from dbkeeper.backups.models import Backup\n"
                      f"b = Backup.objects.get(pk={backup_id!r})\n"
                      "Backup.objects.filter(pk=b.pk).update(tables={**b.tables, 'sales.orders': 1})\n")
        failed = server.cli("verify", backup_id, check=False)
        assert failed.returncode == 1
        assert "sales.orders has 30 rows, the catalog says 1" in " ".join(failed.stderr.split())

        # Pin: a pinned backup is not deleted; unpinned, it is, with its id typed.
        pinned = requests.post(server.url(f"/api/backups/{backup_id}/pin/"), json={"pinned": True}, headers=auth,
                               timeout=10)
        assert pinned.status_code == 200 and pinned.json()["pinned"] is True
        refused = requests.delete(server.url(f"/api/backups/{backup_id}/"), json={"confirm": backup_id},
                                  headers=auth, timeout=10)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "backup_pinned"
        requests.post(server.url(f"/api/backups/{backup_id}/pin/"), json={"pinned": False}, headers=auth, timeout=10)
        unconfirmed = requests.delete(server.url(f"/api/backups/{backup_id}/"), json={"confirm": "yes"},
                                      headers=auth, timeout=10)
        assert unconfirmed.status_code == 400 and unconfirmed.json()["error"]["code"] == "not_confirmed"
        assert len(json.loads(server.cli("backups", "--json").stdout)) == 1
        deleted = requests.post(server.url(f"/api/backups/{backup_id}/delete/"), json={"confirm": backup_id},
                                headers=auth, timeout=10)
        assert deleted.status_code == 200, deleted.text
        assert json.loads(server.cli("backups", "--json").stdout) == []
        stored = [p for p in (tmp_path / "data" / "backups").rglob("*") if p.is_file()]
        assert stored == [], stored
    finally:
        server.stop_all()
        pg.drop_db("bk_verify_live")


def test_delete_removes_file_manifest_and_row_together_or_none(pg, source):
    from dbkeeper.backups import manage
    from dbkeeper.backups.catalog import manifest_name

    kept, gone = made(pg, source), made(pg, source)
    storage = get_storage(kept.storage)
    # A file the storage cannot remove (a folder in its place): nothing is deleted.
    path = storage.path(kept.storage_name)
    path.unlink()
    path.mkdir()
    (path / "inside").write_bytes(b"x")
    with pytest.raises(DbkeeperError) as err:
        manage.delete_backup(kept.id, confirm=kept.id)
    assert err.value.code == "delete_failed" and "It is still listed." in err.value.message
    assert Backup.objects.filter(pk=kept.id).exists()
    assert storage.exists(manifest_name(kept.storage_name))
    assert json.loads(storage.path(manifest_name(kept.storage_name)).read_text())["id"] == kept.id
    with pytest.raises(DbkeeperError) as err:
        manage.delete_backup(gone.id, confirm="yes")
    assert err.value.code == "not_confirmed"
    manage.delete_backup(gone.id, confirm=gone.id)
    assert not Backup.objects.filter(pk=gone.id).exists()
    from dbkeeper.audit.models import AuditEntry

    assert AuditEntry.objects.filter(action="backup.delete", backup=gone.id, outcome="ok").count() == 1
    assert not AuditEntry.objects.filter(action="backup.delete", backup=kept.id).exists()
    assert not storage.exists(gone.storage_name) and not storage.exists(manifest_name(gone.storage_name))


def test_a_backup_in_s3_is_read_once_verified_and_its_damage_found(pg, source, s3_settings, s3_server, s3_bucket,
                                                                   tmp_path):
    s3_settings.DBKEEPER = {**s3_settings.DBKEEPER, "DATA_DIR": str(tmp_path / "s3data")}
    backup = made(pg, source)
    assert backup.storage == "s3"
    op = run_verify(backup.id)
    assert op.status == "succeeded", op.error_message
    assert list((tmp_path / "s3data" / "tmp").glob("verify-*")) == []  # the downloaded copy is removed
    client = s3_server.client()
    body = bytearray(client.get_object(Bucket=s3_bucket, Key=backup.storage_name)["Body"].read())
    body[100] ^= 0x01
    client.put_object(Bucket=s3_bucket, Key=backup.storage_name, Body=bytes(body))
    op = run_verify(backup.id)
    assert op.error_code == "checksum_mismatch", op.error_message
    client.delete_object(Bucket=s3_bucket, Key=backup.storage_name)
    op = run_verify(backup.id)
    assert op.error_code == "backup_file_missing", op.error_message
    assert scratches(pg, source) == []
    assert list((tmp_path / "s3data" / "tmp").glob("verify-*")) == []


def test_more_tables_than_counting_connections_are_each_counted_exactly(pg, pg_dbname):
    from dbkeeper import targets
    from dbkeeper.targets.postgres import COUNTING_CONNECTIONS

    pg.create_db(pg_dbname)
    sizes = {f"public.t{i}": i * 7 for i in range(COUNTING_CONNECTIONS * 3)}  # one of them empty
    sizes["other.big"] = 5000
    with pg.connect(pg_dbname) as conn:
        conn.execute("CREATE SCHEMA other")
        for name, rows in sizes.items():
            conn.execute(f"CREATE TABLE {name} (n int)")
            conn.execute(f"INSERT INTO {name} SELECT generate_series(1, {rows})")
    assert targets.resolve(pg.url(pg_dbname)).row_counts() == sizes
