"""The ``dbkeeper`` command. Each part of dbkeeper adds its own subcommands
through a ``commands.py`` module with ``register(subparsers)``."""

import argparse
import atexit
import gc
import importlib
import logging
import os
import sys
import threading

log = logging.getLogger("dbkeeper.cli")

# Parts whose commands.py adds subcommands, in the order they appear in
# --help, with the commands each adds: a command loads only its own part
# (tests/test_cli_parser.py keeps the names true to what each part adds).
COMMAND_MODULES = {
    "dbkeeper.server": ("createadmin", "migrate", "serve", "watchdog", "web", "worker"),
    "dbkeeper.operations.commands": ("cancel", "operations", "prerestore", "restore"),
    "dbkeeper.engines.commands": ("inspect",),
    "dbkeeper.backups.commands": ("backup", "backups", "rescan", "roles", "verify"),
    "dbkeeper.backups.keygen": ("keygen",),
    "dbkeeper.backups.retention_commands": ("prune", "retention"),
    "dbkeeper.access.commands": ("2fa", "token"),
    "dbkeeper.access.grant_commands": ("grant", "grants", "revoke"),
    "dbkeeper.access.user_commands": ("user",),
    "dbkeeper.audit.commands": ("audit",),
    "dbkeeper.uploads.commands": ("upload",),
    "dbkeeper.web.commands": ("target",),
    "dbkeeper.databases.commands": ("db",),
    "dbkeeper.health.commands": ("status",),
    "dbkeeper.schedules.commands": ("schedule",),
}


# Commands that run a server: they log to their stderr as well as to the log file.
SERVER_COMMANDS = {"serve", "web", "worker", "watchdog"}
# Commands that only read: they never create a data folder (None: every action).
READ_ONLY_COMMANDS = {"operations": None, "inspect": None, "prerestore": {"list"}, "token": {"list"},
                      "target": {"list"}, "db": {"list"}, "schedule": {"list"}, "status": None, "grants": None}
VERBOSE_HELP = "also show log lines on the terminal (they always go to the log file)"
AS_HELP = ("act as this user: the command is checked against their permissions and recorded under their name "
           "(default: the first active superuser)")


def is_read_only(args) -> bool:
    if args.command not in READ_ONLY_COMMANDS:
        return False
    actions = READ_ONLY_COMMANDS[args.command]
    return actions is None or getattr(args, "action", None) in actions


def setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dbkeeper.site.settings")
    import django
    from django.conf import settings

    if not settings.configured or not django.apps.apps.ready:
        django.setup()


def build_parser(argv=None):
    """The parser of every command; given the command line, of its command
    alone when it names one (the others' modules are not loaded: start-up)."""
    parser = argparse.ArgumentParser(prog="dbkeeper", description="Backup and restore for Django and PostgreSQL.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    command = command_named(argv) if argv is not None else None
    parts = [name for name, commands in COMMAND_MODULES.items() if command in commands] or list(COMMAND_MODULES)
    for name in parts:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    parser.add_argument("--as", dest="as_user", metavar="USERNAME", default=None, help=AS_HELP)
    _add_verbose(sub)
    return parser


def command_named(argv):
    """The command a command line names, reading past the global options
    (-v, --as USERNAME); None for anything else (--help, a typo): then every
    command is loaded, to list them or to say which exist."""
    words = iter(argv)
    for word in words:
        if word in ("-v", "--verbose") or word.startswith("--as="):
            continue
        if word == "--as":
            next(words, None)
            continue
        return None if word.startswith("-") else word
    return None


def _add_verbose(subparsers_action):
    """-v after the command too ('dbkeeper token list -v'), on every subcommand."""
    for parser in set(subparsers_action.choices.values()):
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            _add_verbose(nested[0])
        if not any("--verbose" in a.option_strings for a in parser._actions):
            parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
        if not nested and not any("--as" in a.option_strings for a in parser._actions):
            parser.add_argument("--as", dest="as_user", metavar="USERNAME", default=argparse.SUPPRESS, help=AS_HELP)


def terminal_logging(args):
    """Log lines on the terminal for the servers, and for the other commands
    only with -v: otherwise they break the progress bar and bury the sentences."""
    root = logging.getLogger()
    consoles = [h for h in root.handlers if type(h) is logging.StreamHandler and h.stream in (sys.stderr, sys.stdout)]
    if args.verbose:
        if not consoles:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
            root.addHandler(handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
    elif args.command not in SERVER_COMMANDS:
        for handler in consoles:
            root.removeHandler(handler)


def main(argv=None, configure=True):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    # A client command (e.g. upload) sets needs_django=False: no settings, no data folder.
    if configure and getattr(args, "needs_django", True):
        from . import conf

        if is_read_only(args):
            conf.CREATE_DATA_DIR = False
        setup_django()
        if args.command == "serve":
            # Every later command, run from any folder, finds this data folder.
            conf.record_data_dir(conf.data_dir())
    if configure:
        terminal_logging(args)
    from .audit.context import acting_as, via
    from .errors import DbkeeperError

    _collect_garbage_again()
    try:
        # Audit rows written by the command say so, under the name of the user it acts as.
        with via("cli"), acting_as(_acting_user_resolver(args)):
            return args.func(args) or 0
    except DbkeeperError as exc:
        # A client command runs without Django settings: no catalog, so English.
        from django.conf import settings

        sys.stderr.write(f"dbkeeper: {exc.render() if settings.configured else exc.message}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("dbkeeper: interrupted\n")
        return 130


def _collect_garbage_again():
    """End run()'s start-up without garbage collection: what was loaded so far
    lives as long as the process, so it is set aside for good (gc.freeze)
    instead of being walked again by every later collection."""
    global _COLLECTION_PAUSED
    if _COLLECTION_PAUSED:
        _COLLECTION_PAUSED = False
        gc.freeze()
        gc.enable()


_COLLECTION_PAUSED = False


def _acting_user_resolver(args):
    """Who the command acts as, looked up when first asked (after the command
    has migrated the control database): ``--as USERNAME``, else the first
    active superuser (by id), else nobody: a server without a superuser yet is
    run by its operator with every right, as before permissions existed. So
    is a project whose user table cannot be read now (it lives in a database
    that is missing, e.g. the one about to be restored), unless ``--as``
    names a user."""
    if not getattr(args, "needs_django", True):
        return None
    username = getattr(args, "as_user", None)

    def resolve():
        from django.contrib.auth import get_user_model

        from .errors import DbkeeperError
        from .messages import N_

        from django.db import DatabaseError

        User = get_user_model()
        try:
            if username is None:
                return User._default_manager.filter(is_superuser=True, is_active=True).order_by("pk").first()
            user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()
        except DatabaseError as exc:
            if username is None:
                log.warning("the user table cannot be read (%s): acting as the operator", exc)
                return None
            raise DbkeeperError(N_("The users cannot be read to act as %(name)s: %(error)s"), code="users_unreadable",
                                params={"name": username, "error": str(exc).strip()}) from None
        if user is None:
            raise DbkeeperError(N_("There is no user named %(name)s to act as."), code="not_found",
                                params={"name": username})
        if not user.is_active:
            raise DbkeeperError(N_("The user %(name)s is inactive and cannot act."), code="forbidden",
                                params={"name": username})
        return user

    return resolve
def run():
    """The ``dbkeeper`` command (the console script and ``python -m dbkeeper``).

    After main() it exits the way Python would, minus the last step:
    unloading every module one by one, which costs a short command a good
    part of a second on a busy machine. Everything that step would finish
    is finished here first: waiting for other threads (or, when one still
    runs, the ordinary exit), closing dbkeeper's database connections, the
    atexit handlers (log files flushed and closed, temporary files removed),
    and the output written."""
    global _COLLECTION_PAUSED
    # Loading Python, Django and the models allocates a few hundred thousand
    # objects, none of them garbage; collecting while they come costs every
    # command 15-35 ms. main() turns collection on again before the command runs.
    if gc.isenabled():
        gc.disable()
        _COLLECTION_PAUSED = True
    try:
        code = main()
    except BrokenPipeError:
        # The reader went away (``dbkeeper backups | head``): stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    if sys.getprofile() or sys.gettrace() or any(
            t is not threading.main_thread() and not t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.exit(code)  # a profiler or coverage writes its figures afterwards; a thread is still working
    try:
        from django.conf import settings

        if settings.configured:
            from django.db import connections

            connections.close_all()
    except Exception:  # the exit must not fail where the command did not
        log.debug("closing the database connections failed", exc_info=True)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe (dbkeeper ... | head): nothing more to say
        code = code or 1
    os._exit(code if isinstance(code, int) else 1)


if __name__ == "__main__":
    run()
