"""The registries and the contracts that make dbkeeper extensible, followed as
docs/ARCHITECTURE.md tells a developer to: a backup format added through
DBKEEPER["ENGINES"] alone is detected, listed, and restored by the runner
through nothing but the Engine contract; target kinds come from one table;
bad registry entries are refused clearly; the lower layers never import the
web; each shared helper has one home; receivers are wired in ready()."""

import ast
import sqlite3
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

import dbkeeper
from dbkeeper import engines, targets
from dbkeeper.dburl import DbUrl
from dbkeeper.engines.base import BackupInfo, Engine, Reporter
from dbkeeper.errors import BackupRejected, TargetError
from dbkeeper.messages import Message
from dbkeeper.operations import runner, service
from dbkeeper.operations.models import Operation
from dbkeeper.operations.progress import Progress

TINY_MAGIC = b"DBKTINY\n"
TINY_LABEL = "tiny test format"


class TinyEngine(Engine):
    """A made-up format: a magic line, then one table name per line. Restored
    into SQLite as those (empty) tables."""

    format = "tiny"
    label = TINY_LABEL
    target_kinds = ("sqlite",)

    def sniff(self, head: bytes) -> bool:
        return head.startswith(TINY_MAGIC)

    def inspect(self, path) -> BackupInfo:
        path = Path(path)
        names = path.read_bytes()[len(TINY_MAGIC):].decode().split()
        if not names or not all(name.isidentifier() for name in names):
            raise BackupRejected("The tiny file names no valid table.")
        return BackupInfo(format=self.format, label=self.label, size=path.stat().st_size, tables=names)

    def restore(self, path, info: BackupInfo, target, progress: Reporter) -> None:
        progress.set_total(len(info.tables), "tables")
        progress.message("Creating the tiny tables.")
        conn = sqlite3.connect(target.url.name)
        try:
            for done, name in enumerate(info.tables, start=1):
                conn.execute(f'CREATE TABLE "{name}" (id INTEGER PRIMARY KEY)')
                progress.advance(done)
            conn.commit()
        finally:
            conn.close()
        progress.flush(force=True)  # "all done" is worth showing even after a quick restore
        progress.event("The tiny tables were created.")


class NotAnEngine:
    format = "nothing"


def with_engines(engines_setting):
    return override_settings(DBKEEPER={**settings.DBKEEPER, "ENGINES": engines_setting})


TINY = {"tiny": "tests.test_registry.TinyEngine"}


@pytest.fixture
def tiny_file(tmp_path):
    path = tmp_path / "backup.tiny"
    path.write_bytes(TINY_MAGIC + b"customers\norders\n")
    return path


def not_a_backup(tmp_path) -> BackupRejected:
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"\x00\x01\x02 nothing anyone knows")
    with pytest.raises(BackupRejected) as caught:
        engines.detect(odd)
    return caught.value


# -- the engine registry --------------------------------------------------------

def test_default_registry_order_and_lookup():
    formats = [engine.format for engine in engines.all_engines()]
    assert formats == ["pg_custom", "sqlite", "django_fixtures", "odoo_zip", "pg_plain"]
    assert engines.by_format("sqlite").format == "sqlite"
    assert engines.by_format("no_such_format") is None


def test_not_a_backup_sentence_lists_the_registered_formats(tmp_path):
    error = not_a_backup(tmp_path)
    assert "not a backup dbkeeper can restore" in error.message
    assert error.params["formats"] == [Message(engine.label) for engine in engines.all_engines()]
    for engine in engines.all_engines():
        assert engine.label in error.message


def test_an_engine_added_in_settings_is_detected_and_listed(tiny_file, tmp_path):
    with with_engines(TINY):
        assert [engine.format for engine in engines.all_engines()][-1] == "tiny"
        assert isinstance(engines.detect(tiny_file), TinyEngine)
        assert isinstance(engines.by_format("tiny"), TinyEngine)
        engine, info = engines.inspect(tiny_file)
        assert info.tables == ["customers", "orders"]
        error = not_a_backup(tmp_path)
        assert TINY_LABEL in error.message and Message(TINY_LABEL) in error.params["formats"]
    # Back to the defaults once the settings are.
    assert engines.by_format("tiny") is None
    assert TINY_LABEL not in not_a_backup(tmp_path).message


def test_plain_sql_is_sniffed_after_an_engine_added_later(tmp_path):
    # A tiny file whose body is also text that starts like SQL: the loose
    # plain-SQL engine must not take it although it comes first in the registry.
    path = tmp_path / "sqlish.tiny"
    path.write_bytes(TINY_MAGIC + b"select\n")
    with with_engines(TINY):
        assert isinstance(engines.detect(path), TinyEngine)


def test_a_format_can_be_removed_or_replaced(tmp_path, tiny_file):
    with with_engines({"odoo_zip": None}):
        assert "odoo_zip" not in [engine.format for engine in engines.all_engines()]
        assert "Odoo" not in not_a_backup(tmp_path).message
    with with_engines({"sqlite": "tests.test_registry.TinyEngine"}):
        # The name must match the engine's own format: a replacement is checked.
        with pytest.raises(ImproperlyConfigured, match="whose format is 'tiny'"):
            engines.all_engines()


@pytest.mark.parametrize("setting, error", [
    ({"tiny": "tests.test_registry.NoSuchEngine"}, "cannot be imported"),
    ({"tiny": "no_such_module.Engine"}, "cannot be imported"),
    ({"nothing": "tests.test_registry.NotAnEngine"}, "is not a dbkeeper Engine"),
    (["tests.test_registry.TinyEngine"], "must map format names"),
])
def test_a_bad_registry_entry_is_refused_clearly(setting, error, tiny_file):
    with with_engines(setting):
        with pytest.raises(ImproperlyConfigured, match=error):
            engines.detect(tiny_file)


@pytest.mark.django_db(transaction=True)
def test_the_runner_restores_a_registered_engine_through_the_contract_alone(tiny_file, tmp_path):
    live = tmp_path / "app.sqlite3"
    seen = []
    with with_engines(TINY):
        op = service.create_restore(tiny_file, f"sqlite:///{live}")
        runner.run(op.id, listener=lambda o: seen.append((o.stage, o.done, o.total, o.unit)))
    op.refresh_from_db()
    assert op.status == Operation.Status.SUCCEEDED, op.error_message
    assert op.result["format"] == "tiny" and op.result["tables"] == 2
    conn = sqlite3.connect(live)
    try:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    assert names == {"customers", "orders"}
    assert (Operation.Stage.RESTORING, 2, 2, "tables") in seen
    assert "The tiny tables were created." in [event.message for event in op.events.all()]


def test_progress_is_a_reporter():
    assert issubclass(Progress, Reporter)
    for name in ("stage", "set_total", "advance", "message", "event", "check_cancel", "flush"):
        assert callable(getattr(Progress, name))


def test_info_keeps_engine_private_data_out_of_its_description():
    info = BackupInfo(format="tiny", label=TINY_LABEL, size=1, parsed=object())
    assert "parsed" not in info.as_dict()
    assert BackupInfo(**info.as_dict()).parsed is None


def test_an_engine_without_files_beside_the_database_has_no_companion(tiny_file):
    assert TinyEngine().companion(tiny_file, None, None, "op_1") is None


# -- the target kinds -----------------------------------------------------------

def test_each_target_kind_names_its_class():
    for kind in targets.KINDS:
        assert targets.target_class(kind).kind == kind


def test_a_kind_without_a_target_class_is_refused():
    with pytest.raises(TargetError, match="Databases of kind mysql cannot be restore targets."):
        targets.target_class("mysql")
    url = DbUrl(kind="mysql", name="shop")
    with pytest.raises(TargetError):
        targets._target_for(url, "mysql://shop")


# -- layers and homes ------------------------------------------------------------

PACKAGE = Path(dbkeeper.__file__).parent
LOWER_LAYERS = ("engines", "targets", "operations", "uploads", "access", "notifications", "backups", "audit")
TOP_LEVEL_LOWER = ("errors.py", "messages.py", "streams.py", "conf.py", "dburl.py", "procs.py", "router.py")


def _imported_modules(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(("dbkeeper", *path.relative_to(PACKAGE).parent.parts))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def test_the_import_walker_resolves_relative_imports():
    sample = PACKAGE / "web" / "api.py"
    modules = set(_imported_modules(sample))
    assert "dbkeeper.operations.service" in modules and "dbkeeper.web.decorators" in modules


def test_no_module_below_the_web_imports_it():
    paths = [path for layer in LOWER_LAYERS for path in sorted((PACKAGE / layer).rglob("*.py"))]
    paths += [PACKAGE / name for name in TOP_LEVEL_LOWER]
    offenders = [
        str(path.relative_to(PACKAGE)) for path in paths
        if any(module == "dbkeeper.web" or module.startswith("dbkeeper.web.") for module in _imported_modules(path))
    ]
    assert offenders == []


def _definitions(name):
    found = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                found.append(str(path.relative_to(PACKAGE)))
            elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
                found.append(str(path.relative_to(PACKAGE)))
    return sorted(found)


@pytest.mark.parametrize("name, home", [
    ("GZIP_MAGIC", "streams.py"),
    ("UTF8_BOM", "streams.py"),
    ("is_gzip", "streams.py"),
    ("human_size", "streams.py"),
    ("hash_token", "access/tokens.py"),
    ("json_error", "access/http.py"),
])
def test_each_helper_has_one_home(name, home):
    assert _definitions(name) == [home]


def test_stream_helpers(tmp_path):
    from dbkeeper.streams import human_size, is_gzip, open_maybe_gzipped, skip_bom, strip_bom

    assert human_size(512) == "512 bytes" and human_size(1536) == "1.5 KB" and human_size(3 * 1024**5) == "3072.0 TB"
    plain = tmp_path / "a.txt"
    plain.write_bytes(b"\xef\xbb\xbfhello")
    packed = tmp_path / "a.txt.gz"
    import gzip

    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert not is_gzip(plain) and is_gzip(packed)
    with open_maybe_gzipped(packed) as stream:
        assert skip_bom(stream).read() == b"hello"
    assert strip_bom(b"\xef\xbb\xbfx") == b"x" and strip_bom(b"x") == b"x"


# -- wiring ---------------------------------------------------------------------

def test_receivers_are_connected_by_the_app_config():
    from django.contrib.auth.signals import user_logged_out

    from dbkeeper.access.operation_tokens import revoke_on_logout
    from dbkeeper.notifications.delivery import on_operation_finished
    from dbkeeper.operations.signals import operation_finished

    def connected(signal, receiver):
        return any(ref() is receiver for _, ref, *_ in signal.receivers)

    assert connected(operation_finished, on_operation_finished)
    assert connected(user_logged_out, revoke_on_logout)
    # No module connects one on import any more.
    for path in PACKAGE.rglob("*.py"):
        assert "@receiver(" not in path.read_text(), path
