"""What every command pays before it starts: migrate is a no-op, without the
migration graph, once dbkeeper's database has every migration; the engine
registry does not import a format's restore machinery."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dbkeeper.server import _all_applied

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db(transaction=True)
def test_migrate_is_skipped_only_when_every_migration_file_is_applied(settings, tmp_path, monkeypatch):
    from dbkeeper import conf

    alias = conf.control_alias()
    assert _all_applied(alias)
    # A migration file the database has not recorded (a newer dbkeeper): migrate must run.
    package = tmp_path / "later_migrations"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in os.listdir(ROOT / "dbkeeper" / "migrations"):
        if name.endswith(".py") and name != "__init__.py":
            (package / name).write_text("")
    (package / "9999_later.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.MIGRATION_MODULES = {"dbkeeper": "later_migrations"}
    assert not _all_applied(alias)
    settings.MIGRATION_MODULES = {"dbkeeper": None}  # migrations disabled for the app
    assert _all_applied(alias)


def test_a_fresh_data_folder_is_migrated_and_the_next_command_skips_it(tmp_path):
    env = {**os.environ, "DBKEEPER_DATA_DIR": str(tmp_path / "data"), "DBKEEPER_LOG_LEVEL": "WARNING",
           "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    # A read-only command creates no data folder: "migrate" makes it first.
    for command in (["migrate"], ["operations", "--json"]):
        run = subprocess.run([sys.executable, "-m", "dbkeeper", *command], env=env,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
    probe = ("from dbkeeper.cli import setup_django; setup_django()\n"
             "from dbkeeper import conf; from dbkeeper.server import _all_applied\n"
             "import sys; print(_all_applied(conf.control_alias()))\n"
             "print('django.db.migrations.loader' in sys.modules, 'ijson' in sys.modules)\n"
             "from dbkeeper.server import migrate; migrate()\n"
             "from dbkeeper import engines; engines.all_engines()\n"
             "print('django.db.migrations.loader' in sys.modules, 'ijson' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "False", "False", "False"]


def test_the_command_exits_without_unloading_modules_and_loses_nothing(tmp_path):
    """`python -m dbkeeper` skips the interpreter's module teardown at exit:
    its output, exit status and log lines arrive whole all the same."""
    env = {**os.environ, "DBKEEPER_DATA_DIR": str(tmp_path / "data"), "DBKEEPER_LOG_LEVEL": "INFO",
           "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def dbkeeper(*args):
        return subprocess.run([sys.executable, "-m", "dbkeeper", *args], env=env, capture_output=True, text=True,
                              timeout=120)

    assert dbkeeper("migrate").returncode == 0
    listed = dbkeeper("operations", "--json")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "[]"
    dropped = dbkeeper("prerestore", "drop", "no_such_copy")
    assert dropped.returncode == 1
    assert dropped.stderr.strip() == "dbkeeper: There is no pre-restore copy named no_such_copy."
    # A log line written just before the exit is in the log file (the handlers were flushed and closed).
    probe = ("import logging, sys\nfrom dbkeeper import cli\n"
             "cli.main = lambda: (logging.getLogger('dbkeeper.probe').warning('last words'), 3)[1]\ncli.run()\n")
    ended = subprocess.run([sys.executable, "-c", "from dbkeeper.cli import setup_django; setup_django()\n" + probe],
                           env=env, capture_output=True, text=True, timeout=120)
    assert ended.returncode == 3, ended.stderr
    logs = list((tmp_path / "data").rglob("*.log"))
    assert logs and any("last words" in p.read_text() for p in logs)
