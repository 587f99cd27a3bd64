"""Making backups: each format backed up from a real database and restored
into a new one with the same data; exact row counts in the catalog; the
manifest beside each backup and the catalog rebuilt from it."""

import gzip
import hashlib
import json
import zipfile

import pytest

from dbkeeper.backups.models import Backup
from dbkeeper.backups.storage import get_storage
from dbkeeper.operations import runner, service

from .backup_helpers import make_backup, own_storage, stored_files  # noqa: F401 (fixture)
from .builders import make_pg_source, make_sqlite
from .dbsnapshot import pg_snapshot, sqlite_snapshot
from .pgserver import conninfo

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_storage")]


@pytest.fixture
def source(pg, pg_dbname):
    name = pg_dbname + "_src"
    make_pg_source(pg, name, rows=1200, value="src")
    yield name
    pg.drop_db(name)


def restore_backup(pg, backup_id, dbname):
    op = service.create_restore("", pg.url(dbname), backup_id=backup_id)
    runner.run(op.id)
    op.refresh_from_db()
    assert op.status == "succeeded", op.error_message
    return op


@pytest.mark.parametrize("fmt", ["pg_custom", "pg_plain"])
def test_postgresql_backup_restores_to_the_same_data(pg, pg_dbname, source, fmt):
    op = make_backup(pg.url(source), format=fmt)
    assert op.status == "succeeded", op.error_message
    assert op.kind == "backup" and op.percent == 100 and op.lock_key is None
    backup = Backup.objects.get()
    assert backup.id == op.result["backup_id"] == op.backup_id
    stored = get_storage(backup.storage).path(backup.storage_name)
    assert backup.size == stored.stat().st_size
    assert backup.sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert backup.format == fmt and backup.source == "backup" and backup.origin == "manual"
    assert backup.tables == {"public.items": 1200, "sales.orders": 120}
    assert backup.database == source and backup.tool_version.startswith("pg_dump 15")
    assert backup.server_version.startswith("15") and backup.duration_seconds >= 0
    if fmt == "pg_plain":
        assert gzip.decompress(stored.read_bytes()).startswith(b"--\n-- PostgreSQL database dump")
    restore_backup(pg, backup.id, pg_dbname)
    assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, source))


def test_compression_level_is_pg_dumps_and_a_bad_one_is_refused(pg, source):
    from dbkeeper.errors import DbkeeperError
    from dbkeeper.operations.models import Operation

    loose = make_backup(pg.url(source), format="pg_custom", compress=0)
    tight = make_backup(pg.url(source), format="pg_custom", compress=9)
    assert loose.status == tight.status == "succeeded"
    sizes = {b.operation_id: b.size for b in Backup.objects.all()}
    assert sizes[loose.id] > 2 * sizes[tight.id]
    assert Backup.objects.get(operation_id=tight.id).info["compression"] == 9
    for bad in (10, -1, "six"):
        with pytest.raises(DbkeeperError) as err:
            make_backup(pg.url(source), compress=bad)
        assert err.value.code == "bad_compression" and "0 to 9" in err.value.message
    with pytest.raises(DbkeeperError) as err:
        make_backup(pg.url(source), format="tarball")
    assert err.value.code == "bad_format" and "pg_custom" in err.value.message
    with pytest.raises(DbkeeperError) as err:
        make_backup(pg.url(source), format="sqlite")
    assert err.value.code == "wrong_target_kind"
    assert Operation.objects.count() == 2  # refusals record nothing


def test_sqlite_backup_uses_the_online_api_and_restores(tmp_path):
    live = make_sqlite(tmp_path / "app.db", rows=3000, value="live")
    op = make_backup(f"sqlite:///{live}")
    assert op.status == "succeeded", op.error_message
    backup = Backup.objects.get()
    assert backup.format == "sqlite" and backup.tables == {"notes": 3000, "tags": 10}
    assert backup.storage_name.endswith(".sqlite3.gz") and backup.server_version.startswith("SQLite 3")
    assert not list((tmp_path).glob("*.dbk-*")) and not any(get_storage().root.joinpath(".partial").iterdir())
    copy = tmp_path / "copy.db"
    op = service.create_restore("", f"sqlite:///{copy}", backup_id=backup.id)
    runner.run(op.id)
    op.refresh_from_db()
    assert op.status == "succeeded", op.error_message
    assert sqlite_snapshot(copy) == sqlite_snapshot(live)


def test_odoo_backup_has_odoos_layout_and_restores_with_its_filestore(pg, pg_dbname, source, tmp_path, settings):
    store = tmp_path / "filestore"
    files = {"3f/3f2a9c": b"%PDF-1.4 invoice\n" * 40, "a0/a0c7d1": "نص ✓".encode()}
    for rel, data in files.items():
        (store / source / rel).parent.mkdir(parents=True, exist_ok=True)
        (store / source / rel).write_bytes(data)
    settings.DBKEEPER = {**settings.DBKEEPER, "ODOO_FILESTORE_DIR": str(store)}
    with pg.connect(source) as conn:
        conn.execute("CREATE TABLE ir_module_module (id serial PRIMARY KEY, name text, latest_version text, state text)")
        conn.execute("INSERT INTO ir_module_module (name, latest_version, state) VALUES "
                     "('base', '17.0.1.3', 'installed'), ('sale', '17.0.1.2', 'installed'), "
                     "('crm', '17.0.1.0', 'uninstalled')")
    op = make_backup(pg.url(source), format="odoo", compress=6)
    assert op.status == "succeeded", op.error_message
    backup = Backup.objects.get()
    assert backup.format == "odoo_zip" and backup.storage_name.endswith(".zip")
    assert backup.tables["public.ir_module_module"] == 3 and backup.tables["public.items"] == 1200
    path = get_storage().path(backup.storage_name)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names[0] == "dump.sql"
        assert sorted(names[1:]) == sorted(["manifest.json"] + [f"filestore/{rel}" for rel in files])
        manifest = json.loads(archive.read("manifest.json"))
        dump = archive.read("dump.sql")
    with pg.connect() as conn:
        num = conn.info.server_version
    assert manifest == {
        "odoo_dump": "1", "db_name": source, "version": "17.0", "version_info": [17, 0, 0, "final", 0, ""],
        "major_version": "17.0", "pg_version": "%d.%d" % divmod(num / 100, 100),
        "modules": {"base": "17.0.1.3", "sale": "17.0.1.2"},
    }
    assert b"OWNER TO" not in dump and dump.startswith(b"--\n-- PostgreSQL database dump")
    # dbkeeper's own Odoo engine restores it, filestore included, under the new database's name.
    restore_backup(pg, backup.id, pg_dbname)
    assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, source))
    for rel, data in files.items():
        assert (store / pg_dbname / rel).read_bytes() == data


def test_manifest_beside_each_backup_and_rescan_rebuilds_the_catalog(pg, source, tmp_path):
    from dbkeeper.backups.catalog import manifest_name, rescan

    make_backup(pg.url(source), format="pg_custom")
    make_backup(pg.url(source), format="pg_plain")
    make_backup(f"sqlite:///{make_sqlite(tmp_path / 'app.db', rows=20)}")
    before = {b.id: b.as_dict() for b in Backup.objects.all()}
    assert len(before) == 3
    storage = get_storage()
    for backup in Backup.objects.all():
        manifest = json.loads(storage.path(manifest_name(backup.storage_name)).read_bytes())
        assert manifest["id"] == backup.id and manifest["sha256"] == backup.sha256
        assert manifest["tables"] == backup.tables and "s3cret" not in json.dumps(manifest)
    assert len(stored_files()) == 6
    Backup.objects.all().delete()
    found = rescan()
    assert found["manifests"] == 3 and sorted(found["added"]) == sorted(before) and found["skipped"] == []
    after = {b.id: b.as_dict() for b in Backup.objects.all()}
    for backup_id, row in before.items():
        # The URL of the source is kept without its password; everything else is as it was.
        assert after[backup_id] == row
    assert rescan()["added"] == []  # nothing twice


def test_fixtures_backup_of_a_django_alias_is_catalogued_and_restores(pg, pg_dbname, tmp_path):
    from .hostproject import HostProject

    name = pg_dbname + "_fx"
    pg.drop_db(name)
    pg.create_db(name)
    project = HostProject(tmp_path / "host", pg.url(name))
    try:
        project.manage("migrate", "-v0")
        project.manage("seed_shop", "--objects", "60")
        made = project.manage("dbkeeper", "backup", "alias:default", "--format", "fixtures", "--json")
        entry = json.loads(made.stdout)
        counts = project.python_json(
            "import json\nfrom django.apps import apps\n"
            "print(json.dumps({m._meta.label_lower: m._base_manager.count() for m in apps.get_models() "
            "if m._meta.app_label != 'dbkeeper' and not m._meta.proxy}))")
        assert entry["format"] == "django_fixtures" and entry["storage_name"].endswith(".json.gz")
        assert {k: v for k, v in entry["tables"].items() if v} == {k: v for k, v in counts.items() if v}
        assert entry["tables"]["shop.product"] > 10
        fresh = project.using(pg.url(pg_dbname))
        restored = fresh.manage("dbkeeper", "restore", "--backup", entry["id"], "--target", "alias:default", "--yes")
        assert "Restored" in restored.stderr
        assert fresh.dumpdata() == project.dumpdata()
        # A URL is not an alias: fixtures need Django's models.
        refused = project.manage("dbkeeper", "backup", pg.url(name), "--format", "fixtures", check=False)
        assert refused.returncode == 1 and "give its alias" in refused.stderr
    finally:
        pg.drop_db(name)


def test_roles_are_stored_beside_the_backup_without_passwords_unless_asked(pg, source):
    with pg.connect() as conn:
        conn.execute("DROP ROLE IF EXISTS bk_app_role")
        conn.execute("CREATE ROLE bk_app_role LOGIN PASSWORD 'pw-role'")
    try:
        op = make_backup(pg.url(source), roles=True)
        assert op.status == "succeeded", op.error_message
        plain = Backup.objects.get(operation_id=op.id)
        storage = get_storage()
        assert plain.roles_name == plain.storage_name + ".roles.sql"
        roles_sql = storage.path(plain.roles_name).read_text()
        assert "CREATE ROLE bk_app_role;" in roles_sql and "PASSWORD" not in roles_sql
        op = make_backup(pg.url(source), roles=True, role_passwords=True)
        with_passwords = storage.path(Backup.objects.get(operation_id=op.id).roles_name).read_text()
        assert "bk_app_role" in with_passwords and "PASSWORD 'SCRAM-SHA-256$" in with_passwords
    finally:
        with pg.connect() as conn:
            conn.execute("DROP ROLE bk_app_role")
    from dbkeeper.errors import DbkeeperError

    with pytest.raises(DbkeeperError) as err:
        make_backup(f"sqlite:///{make_sqlite(get_storage().root.parent / 'x.db')}", roles=True)
    assert err.value.code == "no_roles"


def test_an_encrypted_backup_restores_with_the_identity_and_age_reads_it(pg, pg_dbname, source, tmp_path, settings):
    import subprocess

    from dbkeeper.backups.encryption import generate_identity

    key = tmp_path / "keys" / "key.txt"
    key.parent.mkdir()
    public = generate_identity(key)
    settings.DBKEEPER = {**settings.DBKEEPER, "AGE_RECIPIENTS": [public], "AGE_IDENTITY_FILE": str(key)}
    op = make_backup(pg.url(source), format="pg_custom", roles=True)
    assert op.status == "succeeded", op.error_message
    backup = Backup.objects.get()
    stored = get_storage().path(backup.storage_name)
    assert backup.storage_name.endswith(".dump.age") and backup.recipients == [public]
    assert stored.read_bytes().startswith(b"age-encryption.org/v1\n")
    assert backup.sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    # The stock age tool decrypts it into the pg_dump archive the catalog describes.
    plain = subprocess.run(["age", "-d", "-i", str(key), str(stored)], capture_output=True, check=True).stdout
    assert plain.startswith(b"PGDMP") and len(plain) == backup.info["plaintext"]["size"]
    assert hashlib.sha256(plain).hexdigest() == backup.info["plaintext"]["sha256"]
    roles = get_storage().path(backup.roles_name)
    assert backup.roles_name.endswith(".roles.sql.age") and b"CREATE ROLE" not in roles.read_bytes()
    restore_backup(pg, backup.id, pg_dbname)
    assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, source))
    # A key that is not an age public key is refused before anything is recorded.
    from dbkeeper.errors import DbkeeperError

    settings.DBKEEPER = {**settings.DBKEEPER, "AGE_RECIPIENTS": ["ssh-rsa AAAA"]}
    with pytest.raises(DbkeeperError) as err:
        make_backup(pg.url(source))
    assert err.value.code == "bad_recipient"
