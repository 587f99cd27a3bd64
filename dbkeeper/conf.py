"""dbkeeper's settings: the ``DBKEEPER`` dict in Django settings, with defaults.

Environment variables are read by the standalone server's settings
(``dbkeeper.site.settings``), not here, so that a host project stays in charge
of its own configuration.
"""

import os
from pathlib import Path

from django.conf import settings

DEFAULTS = {
    # Folder holding uploads, stored backups, the Huey queue and logs.
    "DATA_DIR": os.environ.get("DBKEEPER_DATA_DIR", "dbkeeper-data"),
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
    # The Content-Security-Policy header of every response (access/csp.py).
    "CONTENT_SECURITY_POLICY": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "frame-ancestors 'none'; form-action 'self'; base-uri 'self'"),
}


def get(name):
    configured = getattr(settings, "DBKEEPER", {}) or {}
    if name in configured:
        return configured[name]
    return DEFAULTS[name]


def data_dir() -> Path:
    path = Path(get("DATA_DIR")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_subdir(name) -> Path:
    path = data_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def control_alias() -> str:
    return get("DATABASE")
