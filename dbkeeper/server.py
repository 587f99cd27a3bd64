"""``dbkeeper serve | web | worker | watchdog | createadmin``: running the
standalone server, whole or in halves."""

import argparse
import functools
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 8
SHARED_MEMORY = "/dev/shm"
# How far the web server lowers its priority (nice), unless told: see web/gunicorn_hooks.py.
WEB_NICE = 10
# One web process unless told: its threads answer hundreds of progress polls a
# second from one warm interpreter, for about a fifth less processor time per
# poll than two processes sharing them (measured: 0.75 against 0.93 ms).
WEB_PROCESSES = 1
# How often an idle worker looks at a polled queue (SQLite): a new restore
# starts within this time, at the cost of a few cheap queries a second.
IDLE_POLL_SECONDS = 0.1
# A part of `serve` that dies is started again after a pause that doubles
# while it keeps dying (up to the maximum), and is reset once it has run
# for RESTART_RESET_SECONDS.
RESTART_FIRST_PAUSE = 1.0
RESTART_MAX_PAUSE = 30.0
RESTART_RESET_SECONDS = 60.0


def register(sub):
    p = sub.add_parser("serve", help="run the web server, a worker and the watchdog (embedded defaults)")
    _web_args(p)
    p.add_argument("--workers", type=int, default=2, help="queue worker threads")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("web", help="run only the web server")
    _web_args(p)
    p.set_defaults(func=cmd_web)

    p = sub.add_parser("worker", help="run only a queue worker (restores run here)")
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("watchdog", help="run only the watchdog that fails operations whose worker stopped")
    p.add_argument("--no-schedules", action="store_true",
                   help="do not tick the schedules here (only one process should tick them)")
    p.set_defaults(func=cmd_watchdog)

    p = sub.add_parser("createadmin", help="create a staff superuser and print its password once")
    p.add_argument("username", nargs="?", default="admin")
    p.add_argument("--email", default="")
    p.set_defaults(func=cmd_createadmin)

    p = sub.add_parser("migrate", help="create or update dbkeeper's own database")
    p.set_defaults(func=lambda args: migrate())


def at_least_one(text):
    """A count of processes or threads: 0 would start a server that listens and never answers."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too few: at least 1")
    return value


def _web_args(p):
    p.add_argument("--host", default=os.environ.get("DBKEEPER_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("DBKEEPER_PORT", "8000")))
    p.add_argument("--processes", type=at_least_one, default=os.environ.get("DBKEEPER_WEB_PROCESSES", str(WEB_PROCESSES)),
                   help=f"web server processes (default {WEB_PROCESSES}); each has --threads threads")
    p.add_argument("--threads", type=at_least_one, default=os.environ.get("DBKEEPER_WEB_THREADS", "16"),
                   help="threads per web server process (default 16)")
    p.add_argument("--nice", type=int, choices=range(0, 20), metavar="0-19",
                   default=os.environ.get("DBKEEPER_WEB_NICE", str(WEB_NICE)),
                   help=f"how far the web server's processes lower their priority, as nice(1) (default {WEB_NICE}): "
                        "progress polls then take what restores and backups leave over; 0: not at all")


def migrate():
    from . import conf

    alias = conf.control_alias()
    if _all_applied(alias):
        # Every command calls this: loading the migration graph and running the
        # system checks would cost each one a good part of its start-up.
        return
    from django.core.management import call_command

    # Only dbkeeper's own database: a host project migrates its own.
    call_command("migrate", database=alias, interactive=False, verbosity=0)


def _all_applied(alias) -> bool:
    """Whether the database ``alias`` has recorded every migration file of the
    installed apps, found by name without importing them. Any doubt (no
    table yet, a migrations folder that is not a plain package) says no, and
    migrate runs."""
    import importlib
    import pkgutil

    from django.apps import apps
    from django.conf import settings
    from django.db import DatabaseError, connections

    on_disk = set()
    overrides = getattr(settings, "MIGRATION_MODULES", {}) or {}
    for app in apps.get_app_configs():
        name = overrides.get(app.label, f"{app.name}.migrations")
        if name is None:
            continue
        try:
            package = importlib.import_module(name)
        except ImportError:
            continue
        if not hasattr(package, "__path__"):
            return False
        on_disk |= {(app.label, m.name) for m in pkgutil.iter_modules(package.__path__)
                    if not m.ispkg and m.name[0] not in "_~"}
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT app, name FROM django_migrations")
            applied = set(cursor.fetchall())
    except DatabaseError:
        return False
    return on_disk <= applied


def ensure_admin():
    """On first run, create an admin and show its password once."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    if User.objects.filter(is_superuser=True).exists():
        return None
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser("admin", "", password)
    sys.stdout.write(
        "\nCreated the first admin account.\n"
        f"  username: admin\n  password: {password}\n"
        "This password is shown only once; change it after signing in.\n\n"
    )
    sys.stdout.flush()
    return password


def cmd_createadmin(args):
    from django.contrib.auth import get_user_model

    migrate()
    User = get_user_model()
    if User.objects.filter(username=args.username).exists():
        sys.stderr.write(f"dbkeeper: a user named {args.username} exists already\n")
        return 1
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser(args.username, args.email, password)
    sys.stdout.write(f"username: {args.username}\npassword: {password}\n")
    return 0


def gunicorn_argv(args):
    argv = [
        sys.executable, "-m", "gunicorn", "dbkeeper.site.wsgi:application",
        "--config", "python:dbkeeper.web.gunicorn_hooks",
        "--env", f"DBKEEPER_WEB_NICE={args.nice}",
        "--bind", f"{args.host}:{args.port}",
        "--workers", str(args.processes),
        "--worker-class", "gthread",
        "--threads", str(args.threads),
        # Uploads stream for as long as they need; the tus client resumes if cut.
        "--timeout", "300",
        "--graceful-timeout", str(STOP_GRACE_SECONDS - 2),
    ]
    if os.environ.get("DBKEEPER_ACCESS_LOG") == "1":
        # Off by default: dbkeeper logs each API request itself, and a line per
        # progress poll from hundreds of open pages costs the restore CPU.
        argv += ["--access-logfile", "-"]
    if os.path.isdir(SHARED_MEMORY) and os.access(SHARED_MEMORY, os.W_OK):
        # Each worker touches its heartbeat file many times a second (each
        # loop of a busy worker): in memory, not on a disk's journal (gunicorn's FAQ).
        argv += ["--worker-tmp-dir", SHARED_MEMORY]
    if _gunicorn_has_control_socket():
        # Several dbkeeper web servers on one host must not share one control socket.
        argv.append("--no-control-socket")
    return argv


def _gunicorn_has_control_socket():
    from gunicorn.config import KNOWN_SETTINGS

    return any(setting.name == "control_socket_disable" or "--no-control-socket" in setting.cli
               for setting in KNOWN_SETTINGS if setting.cli)


def cmd_web(args):
    migrate()
    os.execv(sys.executable, gunicorn_argv(args))


def cmd_worker(args):
    from huey.consumer import Consumer

    from .operations import tasks  # noqa: F401  registers the tasks
    from .operations.queue import huey

    try:
        from .uploads import tasks as _upload_tasks  # noqa: F401  periodic clean-up
    except ImportError:
        pass
    from .operations.runner import abandon_own_operations

    # A queue that is polled (SQLite) is polled at least every IDLE_POLL_SECONDS:
    # Huey's default backs off to 10 s while idle, and the user waits that long
    # for "Waiting for a worker" to end. Redis blocks on the queue instead.
    consumer = Consumer(huey, workers=args.workers, worker_type="thread", periodic=True,
                        initial_delay=IDLE_POLL_SECONDS, backoff=1.0, max_delay=IDLE_POLL_SECONDS,
                        check_worker_health=True, shutdown_timeout=2)
    log.info("worker started (%s threads)", args.workers)
    consumer.run()
    # A restore still running cannot finish once we exit: record that, drop
    # its scratch copy, and leave (its tools die with this process).
    abandon_own_operations()
    logging.shutdown()
    os._exit(0)


def cmd_watchdog(args):
    from .operations import watchdog

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    watchdog.run_forever(stop, schedules=not getattr(args, "no_schedules", False))


def cmd_serve(args):
    """Web server, worker and watchdog as child processes. A part that dies
    is started again (the watchdog fails what a dead worker was running);
    Ctrl-C or SIGTERM stops all of them."""
    from . import conf

    migrate()
    ensure_admin()
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "dbkeeper.site.settings")
    env["DBKEEPER_DATA_DIR"] = str(conf.data_dir())
    me = [sys.executable, "-m", "dbkeeper"]
    web_env = dict(env)
    if not getattr(args, "verbose", False):
        # A line per request (a poll a second per open page) buries what a
        # person needs on the terminal: they go to the log file only.
        web_env.setdefault("DBKEEPER_TERMINAL_LOG_LEVEL", "WARNING")
    commands = {
        "web": gunicorn_argv(args),
        "worker": me + ["worker", "--workers", str(args.workers)],
        "watchdog": me + ["watchdog"],
    }
    # Own sessions: a Ctrl-C in the terminal reaches only us, and we stop
    # the children in order with SIGTERM.
    parts = {name: Part(name, argv, web_env if name == "web" else env) for name, argv in commands.items()}
    sys.stdout.write(f"dbkeeper is running at http://{args.host}:{args.port}/ (data in {conf.data_dir()}); Ctrl-C stops it.\n")
    sys.stdout.flush()

    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stopping.is_set():
        for part in parts.values():
            part.tend()
        stopping.wait(0.5)
    stop_children({name: part.proc for name, part in parts.items() if part.proc is not None})
    return 0


class Part:
    """One child process of `serve`, started again with backoff when it dies."""

    def __init__(self, name, argv, env):
        self.name, self.argv, self.env = name, argv, env
        self.pause = RESTART_FIRST_PAUSE
        self.restart_at = None
        self.proc = None
        self.start()

    def start(self):
        from .procs import signal_when_parent_dies

        # Its own session (a Ctrl-C reaches serve alone, which stops the parts
        # in order), and told to stop if serve is killed outright: a web
        # server left behind would keep the port and the next serve could not start.
        self.proc = subprocess.Popen(self.argv, env=self.env, start_new_session=True,
                                     preexec_fn=functools.partial(signal_when_parent_dies, signal.SIGTERM, os.getpid()))
        self.started = time.monotonic()
        self.restart_at = None

    def tend(self):
        now = time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                log.warning("starting the %s again", self.name)
                self.start()
            return
        code = self.proc.poll()
        if code is None:
            return
        if now - self.started >= RESTART_RESET_SECONDS:
            self.pause = RESTART_FIRST_PAUSE
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        log.error("the %s %s; starting it again in %.0f s", self.name, how, self.pause)
        self.proc = None
        self.restart_at = now + self.pause
        self.pause = min(self.pause * 2, RESTART_MAX_PAUSE)


def stop_children(children):
    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for proc in children.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
