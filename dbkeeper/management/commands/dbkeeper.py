"""``python manage.py dbkeeper ARGS``: dbkeeper's command line inside a host
project, on the host's settings (its databases, its DBKEEPER dict). For
example ``manage.py dbkeeper worker`` runs the worker that restores the
project's own database, and ``manage.py dbkeeper restore FILE --target
alias:default`` restores it from the command line."""

import argparse
import sys

from django.core.management.base import BaseCommand

from dbkeeper import cli


class Command(BaseCommand):
    help = "Run a dbkeeper command (worker, watchdog, restore, backup, inspect, …) with this project's settings."

    def run_from_argv(self, argv):
        # dbkeeper's own parser handles the arguments (and --help) as they are.
        sys.exit(cli.main(argv[2:], configure=False))

    def add_arguments(self, parser):
        parser.add_argument("arguments", nargs=argparse.REMAINDER, help="the dbkeeper command and its arguments")

    def handle(self, *args, **options):
        """From call_command("dbkeeper", "inspect", "file")."""
        code = cli.main(list(args) + list(options.get("arguments") or []), configure=False)
        if code:
            sys.exit(code)
