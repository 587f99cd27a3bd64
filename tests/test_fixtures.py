"""Django fixtures as a restore format, in the example host project with a
real PostgreSQL: a dumpdata restored into a fresh database gives the same
objects; natural keys; gzip; a bad object fails naming the model, the key and
the reason, and nothing changes; ``dbkeeper backup --format fixtures``."""

import gzip
import json

import pytest

from .dbsnapshot import pg_snapshot, sqlite_snapshot
from .hostproject import HostProject, canonical
from .pgserver import conninfo

SOURCE_DB = "fx_source"


@pytest.fixture(scope="module")
def source(pg, tmp_path_factory):
    """The example project's database with made-up data of every kind, a
    group with permissions, a member of it, and a login session."""
    pg.drop_db(SOURCE_DB)
    project = HostProject(tmp_path_factory.mktemp("fx-host"), pg.url(SOURCE_DB))
    pg.create_db(SOURCE_DB)
    project.manage("migrate", "-v0")
    project.manage("seed_shop", "--objects", "300")
    project.python(
        "from django.contrib.auth import get_user_model\n"
        "from django.contrib.auth.models import Group, Permission\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "group = Group.objects.create(name='editors')\n"
        "group.permissions.set(Permission.objects.filter(codename__in=['add_product', 'change_product', 'view_order']))\n"
        "alice = get_user_model().objects.create_user('alice', password='pw-1', is_staff=True, display_name='Alice ✓')\n"
        "alice.groups.add(group)\n"
        "s = SessionStore(); s['_auth_user_id'] = str(alice.pk); s.create()\n"
    )
    yield project
    pg.drop_db(SOURCE_DB)


@pytest.fixture
def fresh(pg, pg_dbname, source):
    """The same project pointed at an empty, not yet existing database."""
    return source.using(pg.url(pg_dbname))


def restore(project, path, check=True):
    return project.manage("dbkeeper", "restore", str(path), "--target", "alias:default", "--yes", check=check)


def test_dumpdata_restores_into_a_fresh_database_with_the_same_objects(pg, pg_dbname, source, fresh, tmp_path):
    fixture = tmp_path / "shop.json"
    source.manage("dumpdata", "--output", fixture)
    before = source.dumpdata()

    result = restore(fresh, fixture)
    assert "Restored" in result.stderr, result.stderr

    # Same objects: every model, every field value, many-to-many links, generic relations.
    assert fresh.dumpdata() == before
    counts = fresh.python_json(
        "import json\nfrom django.apps import apps\n"
        "print(json.dumps({m._meta.label_lower: m._base_manager.count() for m in apps.get_models() if m._meta.app_label != 'dbkeeper'}))"
    )
    source_counts = source.python_json(
        "import json\nfrom django.apps import apps\n"
        "print(json.dumps({m._meta.label_lower: m._base_manager.count() for m in apps.get_models() if m._meta.app_label != 'dbkeeper'}))"
    )
    assert counts == source_counts and counts["shop.product"] > 50 and counts["shop.note"] > 10
    # Generic relations point at the same objects; many-to-many links are there.
    probe = (
        "import json\nfrom shop.models import Note, Product\nfrom django.contrib.auth.models import Group\n"
        "notes = [(n.pk, type(n.about).__name__, getattr(n.about, 'name', None) or n.about.pk) for n in Note.objects.order_by('pk')[:20]]\n"
        "tags = sorted((p.pk, t.name) for p in Product.objects.all() for t in p.tags.all())\n"
        "perms = sorted(Group.objects.get(name='editors').permissions.values_list('codename', flat=True))\n"
        "print(json.dumps([notes, tags, perms]))"
    )
    assert fresh.python_json(probe) == source.python_json(probe)
    # Sequences were reset: new objects get new keys.
    fresh.python("from shop.models import Tag\nTag.objects.create(name='after-restore')\n")
    # The restored users can sign in with their own passwords.
    assert fresh.python_json(
        "import json\nfrom django.contrib.auth import authenticate\nprint(json.dumps(authenticate(username='alice', password='pw-1') is not None))"
    ) is True


def test_natural_keys(pg, pg_dbname, source, fresh, tmp_path):
    fixture = tmp_path / "natural.json"
    natural = ["--natural-foreign", "--natural-primary", "-e", "contenttypes", "-e", "auth.permission", "-e", "sessions"]
    source.manage("dumpdata", *natural, "--output", fixture)
    objects = json.loads(fixture.read_text())
    # The file really uses natural keys: no pk for categories, tags and users; lists for references.
    assert all("pk" not in o for o in objects if o["model"] in ("shop.category", "shop.tag", "accounts.user"))
    product = next(o for o in objects if o["model"] == "shop.product")
    assert isinstance(product["fields"]["category"], list) and all(isinstance(t, list) for t in product["fields"]["tags"])
    note = next(o for o in objects if o["model"] == "shop.note")
    assert note["fields"]["content_type"][0] == "shop"

    restore(fresh, fixture)

    assert fresh.dumpdata(*natural) == source.dumpdata(*natural)
    probe = (
        "import json\nfrom shop.models import Note\nfrom django.contrib.auth import get_user_model\n"
        "print(json.dumps([[n.text, str(n.about)] for n in Note.objects.order_by('text', 'object_id')[:30]]"
        " + [sorted(get_user_model().objects.get(username='alice').get_all_permissions())]))"
    )
    assert fresh.python_json(probe) == source.python_json(probe)


def test_gzipped_fixture(pg, pg_dbname, source, fresh, tmp_path):
    fixture = tmp_path / "shop.json.gz"
    source.manage("dumpdata", "--output", fixture)
    assert fixture.read_bytes()[:2] == b"\x1f\x8b"
    shown = fresh.manage("dbkeeper", "inspect", fixture, "--json").stdout
    info = json.loads(shown)
    assert info["format"] == "django_fixtures" and info["compressed"] is True
    assert info["details"]["models"]["shop.product"] > 50

    restore(fresh, fixture)
    assert fresh.dumpdata() == source.dumpdata()


def test_indented_fixture_with_a_byte_order_mark(pg, pg_dbname, source, fresh, tmp_path):
    fixture = tmp_path / "windows.json"
    indented = source.manage("dumpdata", "--indent", "2").stdout
    fixture.write_bytes(b"\xef\xbb\xbf" + indented.encode())

    restore(fresh, fixture)
    assert fresh.dumpdata() == source.dumpdata()


LIVE_DB = "fx_live"


@pytest.fixture(scope="module")
def live(pg, source):
    """The application's live database, with its own data; the failure tests
    check that it is left exactly as it was."""
    pg.drop_db(LIVE_DB)
    pg.create_db(LIVE_DB)
    project = source.using(pg.url(LIVE_DB))
    project.manage("migrate", "-v0")
    project.manage("seed_shop", "--objects", "60", "--seed", "7")
    yield project
    for db in pg.databases():
        if db == LIVE_DB or db.startswith(LIVE_DB + "__"):
            pg.drop_db(db)


def full_dump(source):
    return json.loads(source.manage("dumpdata").stdout)


def fails_and_changes_nothing(pg, live, fixture):
    before = pg_snapshot(conninfo(pg, LIVE_DB))
    result = restore(live, fixture, check=False)
    assert result.returncode == 1, result.stderr
    assert pg_snapshot(conninfo(pg, LIVE_DB)) == before
    assert not [db for db in pg.databases() if db.startswith(LIVE_DB + "__")], pg.databases()
    return result.stderr


def test_dangling_foreign_key_fails_naming_the_object_and_changes_nothing(pg, source, live, tmp_path):
    objects = full_dump(source)
    broken = next(o for o in objects if o["model"] == "shop.product" and o["pk"] > 5)
    broken["fields"]["category"] = 99999
    fixture = tmp_path / "dangling.json"
    fixture.write_text(json.dumps(objects))

    error = fails_and_changes_nothing(pg, live, fixture)

    assert f"shop.product with primary key {broken['pk']}" in error
    assert "category" in error and "99999" in error and "not in the backup" in error, error


def test_dangling_many_to_many_link_is_named(pg, source, live, tmp_path):
    objects = full_dump(source)
    broken = next(o for o in objects if o["model"] == "shop.product")
    broken["fields"]["tags"] = [424242]
    fixture = tmp_path / "dangling-m2m.json"
    fixture.write_text(json.dumps(objects))

    error = fails_and_changes_nothing(pg, live, fixture)

    assert f"shop.product {broken['pk']}" in error and "shop.tag 424242" in error, error


@pytest.mark.parametrize("change, expected", [
    (lambda o: o["fields"].__setitem__("price", "twelve"), ["price", "decimal"]),
    (lambda o: o["fields"].__setitem__("colour", "red"), ["'colour'", "does not have"]),
    (lambda o: o["fields"].__setitem__("name", None), ["name", "null"]),
], ids=["bad-value", "unknown-field", "missing-value"])
def test_bad_object_names_model_key_and_reason(pg, source, live, tmp_path, change, expected):
    objects = full_dump(source)
    bad = [o for o in objects if o["model"] == "shop.product"][7]
    change(bad)
    fixture = tmp_path / "bad.json"
    fixture.write_text(json.dumps(objects))

    error = fails_and_changes_nothing(pg, live, fixture)

    assert f"shop.product with primary key {bad['pk']}" in error, error
    for word in expected:
        assert word in error, error


def test_duplicate_primary_key_is_named(pg, source, live, tmp_path):
    objects = full_dump(source)
    tag = next(o for o in objects if o["model"] == "shop.tag")
    objects.append({"model": "shop.tag", "pk": tag["pk"], "fields": {"name": "a second tag with the same key"}})
    fixture = tmp_path / "duplicate.json"
    fixture.write_text(json.dumps(objects))

    error = fails_and_changes_nothing(pg, live, fixture)

    assert f"shop.tag with primary key {tag['pk']}" in error and "already exists" in error, error


def test_unknown_models_are_refused_before_anything_is_created(pg, live, tmp_path):
    fixture = tmp_path / "foreign.json"
    fixture.write_text(json.dumps([
        {"model": "shop.tag", "pk": 1, "fields": {"name": "x"}},
        {"model": "billing.invoice", "pk": 1, "fields": {"total": 3}},
        {"model": "shop.widget", "pk": 1, "fields": {}},
    ]))

    error = fails_and_changes_nothing(pg, live, fixture)

    assert "billing.invoice, shop.widget" in error and "does not have" in error, error


def test_truncated_fixture_is_refused(pg, source, live, tmp_path):
    whole = source.manage("dumpdata").stdout
    fixture = tmp_path / "cut.json.gz"
    fixture.write_bytes(gzip.compress(whole[: len(whole) // 2].encode()))

    error = fails_and_changes_nothing(pg, live, fixture)

    assert "not valid JSON" in error, error


def test_restoring_the_applications_own_database_says_sign_in_again(pg, pg_dbname, source, tmp_path):
    live = source.using(pg.url(pg_dbname))
    pg.create_db(pg_dbname)
    live.manage("migrate", "-v0")
    live.manage("seed_shop", "--objects", "60", "--seed", "7")
    fixture = tmp_path / "shop.json"
    source.manage("dumpdata", "--output", fixture)

    restore(live, fixture)

    ending = live.python_json(
        "import json\nfrom dbkeeper.operations.models import Operation\nop = Operation.objects.order_by('-created_at').first()\n"
        "print(json.dumps([op.status, op.message, op.result.get('sign_in_again'), op.result.get('prerestore')]))"
    )
    status, message, sign_in_again, prerestore = ending
    assert status == "succeeded" and sign_in_again is True
    assert "Sign in again" in message and "its own accounts" in message
    assert prerestore and prerestore in pg.databases()
    assert live.dumpdata() == source.dumpdata()


def test_dbkeeper_backup_writes_a_fixture_that_restores(pg, pg_dbname, source, fresh, tmp_path):
    plain = tmp_path / "backup.json"
    packed = tmp_path / "backup.json.gz"
    result = source.manage("dbkeeper", "backup", "--format", "fixtures", "--source", "alias:default", "--output", plain)
    assert "Wrote" in result.stderr
    source.manage("dbkeeper", "backup", "--output", packed)
    # The same objects dumpdata writes (dbkeeper's own records never among them).
    written = sorted(json.dumps(canonical(o), sort_keys=True) for o in json.loads(plain.read_text()))
    assert written == source.dumpdata()
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()

    restore(fresh, packed)
    assert fresh.dumpdata() == source.dumpdata()


def test_fixture_into_a_sqlite_application(source, tmp_path):
    fixture = tmp_path / "shop.json"
    source.manage("dumpdata", "--output", fixture)
    # The same project with its default SQLite database (EXAMPLE_DATABASE_URL unset).
    project = HostProject(tmp_path / "sqlite-host")
    project.manage("migrate", "-v0")
    project.manage("seed_shop", "--objects", "40", "--seed", "3")
    live = tmp_path / "sqlite-host" / "example.sqlite3"
    before = sqlite_snapshot(live)

    restore(project, fixture)

    assert project.dumpdata() == source.dumpdata()
    prerestore = [p for p in live.parent.iterdir() if ".prerestore-" in p.name]
    assert len(prerestore) == 1 and sqlite_snapshot(prerestore[0]) == before
