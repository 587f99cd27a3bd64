"""Odoo backup zips: built here in Odoo's layout (dump.sql from the real
pg_dump, filestore/, manifest.json), inspected, restored (database and
filestore swapped in together), and hostile zips refused before anything is
unpacked."""

import json
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from dbkeeper import conf, engines
from dbkeeper.engines.odoo import FilestoreSwap, OdooEngine
from dbkeeper.errors import BackupRejected
from dbkeeper.operations import runner, service

from .builders import dump_plain, make_pg_source
from .dbsnapshot import pg_snapshot
from .pgserver import conninfo

pytestmark = pytest.mark.django_db(transaction=True)

ODOO = OdooEngine()

MANIFEST = {
    "odoo_dump": "1",
    "db_name": "acme-prod",
    "version": "17.0",
    "version_info": [17, 0, 0, "final", 0, ""],
    "major_version": "17.0",
    "pg_version": "15.0",
    "modules": {"base": "17.0.1.3", "web": "17.0.1.0", "sale": "17.0.1.2", "stock": "17.0.1.1"},
}
FILES = {
    "filestore/3f/3f2a9c0e61b7d8": b"%PDF-1.4 invoice 1\n" * 50,
    "filestore/a0/a0c7d1e94b33f2": b"\x89PNG logo bytes" * 20,
    "filestore/checklist/ee/ee01": "نص عربي ✓".encode(),
}


@pytest.fixture(scope="module")
def odoo_sql(pg, tmp_path_factory):
    """dump.sql as Odoo makes it (pg_dump --no-owner, plain SQL), of a database
    with an attachment table that names the filestore files."""
    name = "odoo_source"
    make_pg_source(pg, name, rows=300, value="odoo")
    with pg.connect(name) as conn:
        conn.execute("CREATE TABLE ir_attachment (id serial PRIMARY KEY, name text, store_fname text)")
        for path in FILES:
            conn.execute("INSERT INTO ir_attachment (name, store_fname) VALUES (%s, %s)",
                         (Path(path).name, path.removeprefix("filestore/")))
    path = dump_plain(pg, name, tmp_path_factory.mktemp("odoo") / "dump.sql", "--no-owner")
    pg.drop_db(name)
    return path.read_bytes()


def make_zip(path, sql, files=FILES, manifest=MANIFEST, extra=()):
    """A zip in Odoo's layout: dump.sql first, then manifest.json and the filestore."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("dump.sql", sql)
        if manifest is not None:
            z.writestr("manifest.json", json.dumps(manifest, indent=4))
        for name, data in files.items():
            z.writestr(name, data)
        for info, data in extra:
            z.writestr(info, data)
    return path


@pytest.fixture
def filestore_root(tmp_path, settings):
    root = tmp_path / "odoo-data" / "filestore"
    settings.DBKEEPER = {**settings.DBKEEPER, "ODOO_FILESTORE_DIR": str(root)}
    return root


def run_restore(path, target):
    op = service.create_restore(path, target)
    runner.run(op.id)
    op.refresh_from_db()
    return op


def tmp_files():
    """What the Odoo engine left in dbkeeper's temporary folder."""
    return sorted(p for p in conf.data_subdir("tmp").iterdir() if p.name.startswith("odoo-"))


def test_inspect_reads_the_manifest_and_the_sql(tmp_path, odoo_sql):
    backup = make_zip(tmp_path / "acme.zip", odoo_sql)

    engine, info = engines.inspect(backup)

    assert isinstance(engine, OdooEngine) and info.format == "odoo_zip"
    assert info.details["odoo_version"] == "17.0" and info.details["database"] == "acme-prod"
    assert info.details["modules"] == 4 and info.details["module_names"] == "base, sale, stock, web"
    assert info.details["filestore_files"] == 3
    assert info.details["filestore_bytes"] == sum(len(d) for d in FILES.values())
    assert info.details["manifest"]["major_version"] == "17.0"
    assert {"public.items", "sales.orders", "public.ir_attachment"} <= set(info.tables)
    assert info.server_version == "15.0"
    assert tmp_files() == []  # the dump.sql unpacked to inspect it is gone


def test_inspect_command_shows_the_manifest(tmp_path, odoo_sql, capsys):
    from dbkeeper.cli import main

    backup = make_zip(tmp_path / "acme.zip", odoo_sql)
    assert main(["inspect", str(backup)], configure=False) == 0
    shown = capsys.readouterr().out
    assert "Odoo backup" in shown and "17.0" in shown and "acme-prod" in shown and "sale" in shown


def test_restore_replaces_database_and_filestore_together(pg, pg_dbname, tmp_path, odoo_sql, filestore_root):
    backup = make_zip(tmp_path / "acme.zip", odoo_sql)
    # The live Odoo database and its filestore, as they are before the restore.
    pg.create_db(pg_dbname)
    with pg.connect(pg_dbname) as conn:
        conn.execute("CREATE TABLE old_stuff (id int)")
    old_store = filestore_root / pg_dbname / "old"
    old_store.mkdir(parents=True)
    (old_store / "file").write_bytes(b"old attachment")

    op = run_restore(backup, pg.url(pg_dbname))

    assert op.status == "succeeded", op.error_message
    with pg.connect(pg_dbname) as conn:
        assert conn.execute("SELECT count(*) FROM public.items").fetchone()[0] == 300
        stored = [r[0] for r in conn.execute("SELECT store_fname FROM ir_attachment ORDER BY id")]
        assert conn.execute("SELECT to_regclass('old_stuff')").fetchone()[0] is None
    live = filestore_root / pg_dbname
    # Every attachment the restored database names is in the restored filestore, byte for byte.
    for name in stored:
        assert (live / name).read_bytes() == FILES["filestore/" + name]
    assert not (live / "old").exists()
    previous = Path(op.result["filestore_prerestore"])
    assert previous.parent == filestore_root and (previous / "old" / "file").read_bytes() == b"old attachment"
    assert op.result["prerestore"] in pg.databases()
    assert not [p for p in filestore_root.iterdir() if "dbk-scratch" in p.name]
    assert tmp_files() == []


def test_a_failed_database_restore_leaves_the_filestore_alone(pg, pg_dbname, tmp_path, odoo_sql, filestore_root):
    broken_sql = odoo_sql.replace(b"CREATE TABLE public.items", b"CREATE TABLE public.items (oops", 1)
    backup = make_zip(tmp_path / "broken.zip", broken_sql)
    pg.create_db(pg_dbname)
    live = filestore_root / pg_dbname
    live.mkdir(parents=True)
    (live / "kept").write_bytes(b"still here")
    before = pg_snapshot(conninfo(pg, pg_dbname))

    op = run_restore(backup, pg.url(pg_dbname))

    assert op.status == "failed"
    assert pg_snapshot(conninfo(pg, pg_dbname)) == before
    assert sorted(p.name for p in filestore_root.iterdir()) == [pg_dbname]
    assert [p.name for p in live.iterdir()] == ["kept"]


def test_filestore_swap_is_undone_when_the_database_swap_fails(tmp_path, odoo_sql):
    backup = make_zip(tmp_path / "acme.zip", odoo_sql)
    root = tmp_path / "filestore"
    (root / "shop").mkdir(parents=True)
    (root / "shop" / "old").write_bytes(b"old")
    swap = FilestoreSwap(backup, root, "shop", "op_1_abcdef")

    class Quiet:
        def message(self, text): pass
        def advance(self, done, message=None): pass
        def event(self, text): pass

    swap.prepare(Quiet())
    assert swap.scratch.is_dir() and (root / "shop" / "old").exists()
    swap.swap()
    assert (root / "shop" / "3f" / "3f2a9c0e61b7d8").exists()
    swap.rollback()  # what the runner does when the database swap fails afterwards
    swap.discard()
    assert sorted(p.name for p in root.iterdir()) == ["shop"]
    assert [p.name for p in (root / "shop").iterdir()] == ["old"]


def test_a_filestore_without_a_configured_folder_is_refused_before_restoring(pg, pg_dbname, tmp_path, odoo_sql, settings):
    settings.DBKEEPER = {**settings.DBKEEPER, "ODOO_FILESTORE_DIR": None}
    backup = make_zip(tmp_path / "acme.zip", odoo_sql)

    op = run_restore(backup, pg.url(pg_dbname))

    assert op.status == "failed" and "ODOO_FILESTORE_DIR" in op.error_message
    assert not [db for db in pg.databases() if db.startswith(pg_dbname)]


# -- hostile zips ---------------------------------------------------------------------

def symlink_entry(name, target):
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target


def overlapping_zip(path, sql):
    """A zip whose second entry reuses the first one's data (the kind of zip
    bomb that multiplies one compressed block by many entries)."""
    make_zip(path, sql, files={"filestore/aa/bomb": b"x" * 1000}, manifest=None)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        first, second = z.infolist()
    central = data.rfind(b"PK\x01\x02")  # the second central-directory record
    assert data[central + 46: central + 46 + len(second.filename)] == second.filename.encode()
    data[central + 42: central + 46] = struct.pack("<I", first.header_offset)
    path.write_bytes(bytes(data))
    return path


def unknown_method_zip(path, sql):
    """A zip whose last entry claims Zstandard (method 93), which the standard library cannot read."""
    make_zip(path, sql, files={"filestore/aa/odd": b"data"}, manifest=None)
    data = bytearray(path.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    data[central + 10: central + 12] = struct.pack("<H", 93)
    path.write_bytes(bytes(data))
    return path


def big_zeros():
    return bytes(64 * 1024 * 1024)


HOSTILE = {
    "zip-slip": (lambda p, sql: make_zip(p, sql, files={**FILES, "filestore/../../../etc/cron.d/evil": b"* * * * * root sh"}),
                 "outside the folder"),
    "absolute-path": (lambda p, sql: make_zip(p, sql, files={**FILES, "/etc/passwd": b"root::0:0"}), "absolute path"),
    "windows-absolute": (lambda p, sql: make_zip(p, sql, files={**FILES, "C:\\evil.bat": b"echo"}), "absolute path"),
    "symlink": (lambda p, sql: make_zip(p, sql, extra=[symlink_entry("filestore/aa/link", "/etc/shadow")]), "symbolic link"),
    "zip-bomb-ratio": (lambda p, sql: make_zip(p, sql, files={"filestore/aa/bomb": big_zeros()}), "zip bomb"),
    "zip-bomb-overlap": (overlapping_zip, "zip bomb"),
    "unknown-compression": (unknown_method_zip, "compression method"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_zip_is_refused_before_anything_is_written(pg, pg_dbname, tmp_path, odoo_sql, filestore_root, kind):
    build, reason = HOSTILE[kind]
    backup = build(tmp_path / f"{kind}.zip", odoo_sql)
    pg.create_db(pg_dbname)
    with pg.connect(pg_dbname) as conn:
        conn.execute("CREATE TABLE live_data (v text)")
        conn.execute("INSERT INTO live_data VALUES ('untouched')")
    before = pg_snapshot(conninfo(pg, pg_dbname))

    with pytest.raises(BackupRejected) as refused:
        ODOO.inspect(backup)
    assert "refused before anything was unpacked" in refused.value.message and reason in refused.value.message

    op = run_restore(backup, pg.url(pg_dbname))

    assert op.status == "failed" and reason in op.error_message
    assert pg_snapshot(conninfo(pg, pg_dbname)) == before
    assert [db for db in pg.databases() if db.startswith(pg_dbname)] == [pg_dbname]
    assert not filestore_root.exists()
    assert tmp_files() == []
    assert not Path("/etc/cron.d/evil").exists()


def test_too_many_bytes_or_entries_are_refused(tmp_path, odoo_sql, settings):
    backup = make_zip(tmp_path / "acme.zip", odoo_sql)
    settings.DBKEEPER = {**settings.DBKEEPER, "ZIP_MAX_UNCOMPRESSED": len(odoo_sql) // 2}
    with pytest.raises(BackupRejected) as refused:
        ODOO.inspect(backup)
    assert "more than the limit" in refused.value.message

    settings.DBKEEPER = {**settings.DBKEEPER, "ZIP_MAX_UNCOMPRESSED": 10**9, "ZIP_MAX_ENTRIES": 3}
    with pytest.raises(BackupRejected) as refused:
        ODOO.inspect(backup)
    assert "5 entries, more than the limit of 3" in refused.value.message
    assert tmp_files() == []


def test_a_header_that_lies_about_the_size_is_caught_while_unpacking(tmp_path, odoo_sql):
    """The directory says dump.sql is small; the data says otherwise."""
    backup = make_zip(tmp_path / "liar.zip", odoo_sql)
    data = bytearray(backup.read_bytes())
    with zipfile.ZipFile(backup) as z:
        info = z.getinfo("dump.sql")
        central = z.start_dir  # dump.sql's record comes first
    assert data[central: central + 4] == b"PK\x01\x02"
    declared = struct.pack("<I", 1000)
    data[info.header_offset + 22: info.header_offset + 26] = declared  # local header
    data[central + 24: central + 28] = declared  # central directory
    backup.write_bytes(bytes(data))

    with pytest.raises(BackupRejected) as refused:
        ODOO.inspect(backup)
    assert "dump.sql" in refused.value.message
    assert tmp_files() == []


def test_a_zip_that_is_not_an_odoo_backup_is_not_taken_for_one(tmp_path):
    plain = tmp_path / "photos.zip"
    with zipfile.ZipFile(plain, "w") as z:
        z.writestr("holiday.jpg", b"\xff\xd8 not really")
    with pytest.raises(BackupRejected):
        engines.detect(plain)
    odd = tmp_path / "odd.zip"
    with zipfile.ZipFile(odd, "w") as z:
        z.writestr("manifest.json", json.dumps(MANIFEST))
    with pytest.raises(BackupRejected) as refused:
        engines.inspect(odd)
    assert "no dump.sql" in refused.value.message
