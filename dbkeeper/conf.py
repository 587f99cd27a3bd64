"""dbkeeper's settings: the ``DBKEEPER`` dict in Django settings, with defaults.

Environment variables are read by the standalone server's settings
(``dbkeeper.site.settings``), not here, so that a host project stays in charge
of its own configuration.
"""

import os
from pathlib import Path

from django.conf import settings

DEFAULTS = {
    # Folder holding uploads, stored backups, the Huey queue and logs; None:
    # default_data_dir(), the same folder wherever a command runs.
    "DATA_DIR": None,
    # Database alias that holds dbkeeper's own records (operations, tokens...).
    "DATABASE": "dbkeeper",
    # Backup formats: format name -> dotted path of its Engine class, in the
    # order files are sniffed. DBKEEPER["ENGINES"] is merged into this: a new
    # name adds a format (sniffed after these), a known name replaces its
    # engine, None removes it. See docs/ARCHITECTURE.md, "How to add a backup format".
    "ENGINES": {
        "pg_custom": "dbkeeper.engines.pg_custom.PgCustomEngine",
        "sqlite": "dbkeeper.engines.sqlite.SqliteEngine",
        "django_fixtures": "dbkeeper.engines.fixtures.FixturesEngine",
        "odoo_zip": "dbkeeper.engines.odoo.OdooEngine",
        # Plain SQL claims any text that starts like SQL: sniffed last (Engine.sniff_last).
        "pg_plain": "dbkeeper.engines.pg_plain.PgPlainEngine",
    },
    # Backup makers: format name -> dotted path of its Maker class, merged
    # with DBKEEPER["MAKERS"] as ENGINES is (see dbkeeper/backups/makers).
    "MAKERS": {
        "pg_custom": "dbkeeper.backups.makers.pg_custom.PgCustomMaker",
        "pg_plain": "dbkeeper.backups.makers.pg_plain.PgPlainMaker",
        "sqlite": "dbkeeper.backups.makers.sqlite.SqliteMaker",
        "fixtures": "dbkeeper.backups.makers.fixtures.FixturesMaker",
        "odoo": "dbkeeper.backups.makers.odoo.OdooMaker",
    },
    # gzip level of new backups (pg_dump -Z, gzip), 0-9.
    "BACKUP_COMPRESSION": 6,
    # Named restore targets: {"name": "postgresql://..." or "alias:default"}, or a dict
    # {"url": ..., "trust": "superuser", "owner": ROLE, "extensions": [...]} (targets/__init__.py).
    "TARGETS": {},
    # Worker heartbeat period, and the age after which the watchdog gives up.
    "HEARTBEAT_SECONDS": 5,
    "HEARTBEAT_TIMEOUT": 30,
    "WATCHDOG_INTERVAL": 5,
    # Parallel jobs for pg_restore of custom-format dumps.
    "PG_RESTORE_JOBS": 1,
    # Progress writes are throttled to at most this many per second.
    "PROGRESS_WRITES_PER_SECOND": 2,
    # Redis URL: use RedisHuey (several workers on several hosts) instead of SqliteHuey.
    "REDIS_URL": None,
    # Run queued tasks in the calling process (tests of pure logic only).
    "QUEUE_IMMEDIATE": False,
    # Resumable uploads.
    "MAX_UPLOAD_SIZE": 50 * 1024**3,
    "UPLOAD_EXPIRY_SECONDS": 24 * 3600,
    # Operation tokens.
    "TOKEN_IDLE_SECONDS": 2 * 3600,
    "TOKEN_MAX_AGE_SECONDS": 24 * 3600,
    "TOKEN_GRACE_AFTER_END_SECONDS": 15 * 60,
    # Odoo filestore folder swapped together with the database (Odoo zip backups).
    "ODOO_FILESTORE_DIR": None,
    # Limits for unpacking archives (zip bombs).
    "ZIP_MAX_UNCOMPRESSED": 100 * 1024**3,
    "ZIP_MAX_ENTRIES": 1_000_000,
    # Storage new backups go to: "local" (DATA_DIR/backups), "s3" (STORAGES["dbkeeper_backups"]
    # with django-storages' S3 backend), or X for STORAGES["dbkeeper_backups_X"].
    # None: the kind of STORAGES["dbkeeper_backups"] when configured, else local.
    "BACKUP_STORAGE": None,
    # Size of each part of an S3 multipart upload (held in memory while sent; at least 5 MiB).
    "S3_PART_SIZE": 8 * 1024 * 1024,
    # age encryption at rest: the public keys ("age1...") new backups are encrypted to
    # (none: not encrypted), and the identity file restore and verify decrypt with.
    # dbkeeper never stores the private key; `dbkeeper keygen` makes one.
    "AGE_RECIPIENTS": [],
    "AGE_IDENTITY_FILE": None,
    # Audit log: the HMAC key (default: the key file audit.key in the data folder).
    "AUDIT_KEY": None,
    # Behind a proxy: the META key holding the client's address (e.g.
    # "HTTP_X_FORWARDED_FOR"; its last entry is used). Default REMOTE_ADDR.
    "CLIENT_ADDRESS_HEADER": None,
    # Sign-in throttling: failures within the window that lock an account, or
    # an address, for SIGNIN_LOCKOUT_SECONDS.
    "SIGNIN_MAX_FAILURES": 5,
    "SIGNIN_MAX_FAILURES_PER_ADDRESS": 20,
    "SIGNIN_WINDOW_SECONDS": 900,
    "SIGNIN_LOCKOUT_SECONDS": 900,
    # Superusers must sign in with a TOTP code ('dbkeeper 2fa enrol USER').
    "REQUIRE_2FA": False,
    # Key that encrypts saved target passwords (default: secrets.key in the data folder).
    "SECRETS_KEY_FILE": None,
    # Schedules: whether this process's watchdog ticks them (only one process should;
    # a second one cannot double a slot), and how often it looks (seconds).
    "SCHEDULES_TICK": True,
    "SCHEDULE_TICK_SECONDS": 15,
    # At most this many backups run against one database server at a time, with
    # overrides per server: {"host:port": N} (a SQLite target: its file's path).
    "BACKUPS_PER_SERVER": 1,
    "BACKUPS_PER_SERVER_OVERRIDES": {},
    # Scheduled backups started per minute at most: schedules due the same minute
    # are spread over the following minutes.
    "SCHEDULE_STARTS_PER_MINUTE": 3,
    # What plain staff (is_staff) may do on every target without a grant
    # (access/permissions.py); [] makes grants the only way. manage_targets
    # stays with superusers and grants, as before permissions existed.
    "STAFF_PERMISSIONS": ["view", "backup", "restore", "manage_databases", "manage_schedules"],
    # The Content-Security-Policy header of every response (access/csp.py).
    # Alerts (dbkeeper/health): a webhook that gets each alert opened or resolved
    # as a JSON POST signed with HMAC-SHA256 of the body (X-Dbkeeper-Signature:
    # sha256=<hex>) with this secret; tried up to ALERT_WEBHOOK_ATTEMPTS times,
    # waiting ALERT_WEBHOOK_BACKOFF seconds, then twice as long each time.
    "ALERT_WEBHOOK_URL": None,
    "ALERT_WEBHOOK_SECRET": None,
    "ALERT_WEBHOOK_ATTEMPTS": 8,
    "ALERT_WEBHOOK_BACKOFF": 30,
    "ALERT_WEBHOOK_TIMEOUT": 10,
    # Alert e-mails go to the staff who may view the target (Django's mail settings).
    "ALERT_EMAILS": True,
    "CONTENT_SECURITY_POLICY": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "frame-ancestors 'none'; form-action 'self'; base-uri 'self'"),
    # Retention: a storage deletion is tried this many times, waiting n x RETRY_SECONDS after the n-th failure.
    "RETENTION_DELETE_ATTEMPTS": 3,
    "RETENTION_RETRY_SECONDS": 1.0,
    # Pre-restore copies kept: the last N of each target, and any younger than D days (union).
    "PRERESTORE_KEEP_LAST": 3,
    "PRERESTORE_KEEP_DAYS": 7,
}


# Whether the data folder may be created when it is missing. The command line
# turns it off before Django starts for commands that only read (operations,
# prerestore list, token list…): they say there is no data folder yet instead.
CREATE_DATA_DIR = True


def get(name):
    configured = getattr(settings, "DBKEEPER", {}) or {}
    value = configured[name] if name in configured else DEFAULTS[name]
    if name == "DATA_DIR" and value is None:
        return default_data_dir()
    return value


def config_dir() -> Path:
    """The user's configuration folder for dbkeeper ($XDG_CONFIG_HOME/dbkeeper)."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base).expanduser() / "dbkeeper"


def data_dir_pointer() -> Path:
    """The small file in which ``dbkeeper serve`` records the data folder it uses."""
    return config_dir() / "data-dir"


def user_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "dbkeeper"


def default_data_dir() -> Path:
    """The data folder when the settings name none, the same whichever folder
    a command runs in: $DBKEEPER_DATA_DIR, else the folder ``dbkeeper serve``
    last recorded (while it exists), else the user's data folder
    (~/.local/share/dbkeeper)."""
    if os.environ.get("DBKEEPER_DATA_DIR"):
        return Path(os.environ["DBKEEPER_DATA_DIR"]).expanduser().resolve()
    try:
        recorded = data_dir_pointer().read_text().strip()
    except (OSError, UnicodeDecodeError):
        recorded = ""
    # A recorded folder that was deleted since is forgotten.
    if recorded and Path(recorded).is_absolute() and Path(recorded).is_dir():
        return Path(recorded)
    return user_data_dir().resolve()


def record_data_dir(path) -> None:
    """Remember ``path`` as the data folder of later commands run anywhere by this user."""
    pointer = data_dir_pointer()
    path = str(Path(path).resolve())
    try:
        if pointer.exists() and pointer.read_text().strip() == path:
            return
        pointer.parent.mkdir(parents=True, exist_ok=True)
        tmp = pointer.with_name(f".data-dir.{os.getpid()}.tmp")
        tmp.write_text(path + "\n")
        tmp.replace(pointer)
    except OSError as exc:  # a read-only home: commands then need DBKEEPER_DATA_DIR
        import logging

        logging.getLogger(__name__).warning("could not record the data folder in %s: %s", pointer, exc)


def data_dir_path() -> Path:
    """The data folder, without creating it."""
    return Path(get("DATA_DIR")).expanduser().resolve()


def data_dir() -> Path:
    path = data_dir_path()
    path.mkdir(parents=True, exist_ok=True)
    return path


def missing_data_dir():
    """The data folder if it does not exist yet and dbkeeper's records would
    be in it (the standalone server's SQLite control database), else None: a
    command that only reads then says so instead of creating an empty one."""
    path = data_dir_path()
    if path.exists():
        return None
    name = str(settings.DATABASES.get(control_alias(), {}).get("NAME", ""))
    return path if name.startswith(str(path) + os.sep) else None


def data_subdir(name) -> Path:
    path = data_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def control_alias() -> str:
    return get("DATABASE")
