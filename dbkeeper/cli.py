"""The ``dbkeeper`` command. Each part of dbkeeper adds its own subcommands
through a ``commands.py`` module with ``register(subparsers)``."""

import argparse
import importlib
import logging
import os
import sys

log = logging.getLogger("dbkeeper.cli")

# Parts whose commands.py adds subcommands, in the order they appear in --help.
COMMAND_MODULES = [
    "dbkeeper.server",
    "dbkeeper.operations.commands",
    "dbkeeper.engines.commands",
    "dbkeeper.backups.commands",
    "dbkeeper.backups.keygen",
    "dbkeeper.access.commands",
    "dbkeeper.uploads.commands",
    "dbkeeper.web.commands",
]


def setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dbkeeper.site.settings")
    import django
    from django.conf import settings

    if not settings.configured or not django.apps.apps.ready:
        django.setup()


def build_parser():
    parser = argparse.ArgumentParser(prog="dbkeeper", description="Backup and restore for Django and PostgreSQL.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv=None, configure=True):
    parser = build_parser()
    args = parser.parse_args(argv)
    # A client command (e.g. upload) sets needs_django=False: no settings, no data folder.
    if configure and getattr(args, "needs_django", True):
        setup_django()
    from .errors import DbkeeperError

    try:
        return args.func(args) or 0
    except DbkeeperError as exc:
        sys.stderr.write(f"dbkeeper: {exc.message}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("dbkeeper: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
