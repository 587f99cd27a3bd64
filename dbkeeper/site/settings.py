"""Settings of the standalone server (``dbkeeper serve``). Everything comes
from the environment, with embedded defaults that need no other service:

- DBKEEPER_DATA_DIR: data folder (default: the folder ``dbkeeper serve`` last
  recorded in ~/.config/dbkeeper/data-dir, else ~/.local/share/dbkeeper; the
  same wherever a command runs, see dbkeeper.conf.default_data_dir)
- DBKEEPER_CONTROL_DATABASE_URL: PostgreSQL for dbkeeper's own records
  (default: a SQLite file in the data folder)
- DBKEEPER_REDIS_URL: use Redis for the queue (default: SQLite in the data folder)
- DBKEEPER_SECRET_KEY, DBKEEPER_ALLOWED_HOSTS, DBKEEPER_DEBUG
- DBKEEPER_SESSION_AGE: login session age in seconds (default 2 hours)
- DBKEEPER_EMAIL_URL-style settings: DBKEEPER_EMAIL_HOST, DBKEEPER_EMAIL_PORT, DBKEEPER_EMAIL_FROM
- DBKEEPER_S3_BUCKET (with DBKEEPER_S3_ENDPOINT_URL, DBKEEPER_S3_ACCESS_KEY,
  DBKEEPER_S3_SECRET_KEY, DBKEEPER_S3_REGION, DBKEEPER_S3_PREFIX): keep backups on S3
- DBKEEPER_AGE_RECIPIENTS (age public keys, comma or space separated): encrypt new
  backups; DBKEEPER_AGE_IDENTITY_FILE: the identity restores decrypt with
- DBKEEPER_BEHIND_TLS_PROXY=1: the server is reached through a TLS-terminating
  proxy that sets X-Forwarded-Proto and X-Forwarded-For: the forwarded scheme
  is trusted, cookies are Secure, HSTS is on, and the client's address is the
  last one the proxy put in X-Forwarded-For (sign-in throttling, audit log)
- DBKEEPER_REQUIRE_2FA=1: superusers must sign in with a TOTP code
- DBKEEPER_ALERT_WEBHOOK_URL, DBKEEPER_ALERT_WEBHOOK_SECRET: send alerts
  (failed scheduled backups, failed verifications, stale schedules, storage
  errors) as signed JSON POSTs to this address
"""

import os
import secrets
from pathlib import Path

from dbkeeper import conf as _conf
from dbkeeper.dburl import DbUrl

env = os.environ.get

DATA_DIR = _conf.default_data_dir()
# A command that only reads (dbkeeper operations…) creates no data folder:
# it says there is none yet. Everything else creates it on first use.
_WRITABLE = _conf.CREATE_DATA_DIR or DATA_DIR.exists()
if _WRITABLE:
    DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key():
    if env("DBKEEPER_SECRET_KEY"):
        return env("DBKEEPER_SECRET_KEY")
    if not _WRITABLE:
        return secrets.token_urlsafe(50)  # nothing is signed by a command that stops at once
    # Generated once and kept in the data folder, so sessions survive restarts.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env("DBKEEPER_DEBUG", "") == "1"
ALLOWED_HOSTS = [h for h in env("DBKEEPER_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in env("DBKEEPER_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "dbkeeper",
    "dbkeeper.web",  # pages: templates, static files, translations
]

MIDDLEWARE = [
    "dbkeeper.web.pollpath.LeanPollMiddleware",  # first: a progress poll with its token skips the rest
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "dbkeeper.access.middleware.SessionGuardMiddleware",  # right after SessionMiddleware
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "dbkeeper.access.csp.ContentSecurityPolicyMiddleware",
    "dbkeeper.audit.context.AuditContextMiddleware",  # after AuthenticationMiddleware
]

ROOT_URLCONF = "dbkeeper.site.urls"
WSGI_APPLICATION = "dbkeeper.site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

if env("DBKEEPER_CONTROL_DATABASE_URL"):
    _control = DbUrl.parse(env("DBKEEPER_CONTROL_DATABASE_URL")).django_settings()
    if _control["ENGINE"].endswith("postgresql"):
        # Each thread keeps its connection (checked before a request reuses it):
        # a new one for every progress poll cost the web server three times the
        # poll itself, and PostgreSQL a process start each time.
        _control.setdefault("CONN_MAX_AGE", 600)
        _control.setdefault("CONN_HEALTH_CHECKS", True)
else:
    _control = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DATA_DIR / "control.sqlite3"),
        "OPTIONS": {
            # WAL lets the web processes read while the worker writes progress.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        },
        # Keep each thread's connection: opening one (and SQLite reading the
        # schema again) on every request cost more than the queries themselves.
        "CONN_MAX_AGE": 600,
    }
# In the standalone server, dbkeeper's records and its accounts share one database.
DATABASES = {"default": _control}
DATABASE_ROUTERS = ["dbkeeper.router.ControlRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DBKEEPER = {
    "DATA_DIR": str(DATA_DIR),
    "DATABASE": "default",
    "REDIS_URL": env("DBKEEPER_REDIS_URL") or None,
}
for _name, _cast in (("HEARTBEAT_TIMEOUT", float), ("HEARTBEAT_SECONDS", float), ("WATCHDOG_INTERVAL", float),
                     ("PG_RESTORE_JOBS", int), ("MAX_UPLOAD_SIZE", int), ("ODOO_FILESTORE_DIR", str),
                     ("SCHEDULE_TICK_SECONDS", float), ("BACKUPS_PER_SERVER", int),
                     ("SCHEDULE_STARTS_PER_MINUTE", int)):
    if env(f"DBKEEPER_{_name}"):
        DBKEEPER[_name] = _cast(env(f"DBKEEPER_{_name}"))

# Backup storage on S3 (or any S3-compatible server): set DBKEEPER_S3_BUCKET.
if env("DBKEEPER_S3_BUCKET"):
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "dbkeeper_backups": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": env("DBKEEPER_S3_BUCKET"),
                "endpoint_url": env("DBKEEPER_S3_ENDPOINT_URL") or None,
                "access_key": env("DBKEEPER_S3_ACCESS_KEY") or None,
                "secret_key": env("DBKEEPER_S3_SECRET_KEY") or None,
                "region_name": env("DBKEEPER_S3_REGION") or None,
                "location": env("DBKEEPER_S3_PREFIX", ""),
            },
        },
    }
if env("DBKEEPER_AGE_RECIPIENTS"):
    DBKEEPER["AGE_RECIPIENTS"] = [r for r in env("DBKEEPER_AGE_RECIPIENTS").replace(",", " ").split() if r]
if env("DBKEEPER_AGE_IDENTITY_FILE"):
    DBKEEPER["AGE_IDENTITY_FILE"] = env("DBKEEPER_AGE_IDENTITY_FILE")
if env("DBKEEPER_BACKUP_STORAGE"):
    DBKEEPER["BACKUP_STORAGE"] = env("DBKEEPER_BACKUP_STORAGE")
if env("DBKEEPER_REQUIRE_2FA", "") == "1":
    DBKEEPER["REQUIRE_2FA"] = True
if env("DBKEEPER_ALERT_WEBHOOK_URL"):
    DBKEEPER["ALERT_WEBHOOK_URL"] = env("DBKEEPER_ALERT_WEBHOOK_URL")
    DBKEEPER["ALERT_WEBHOOK_SECRET"] = env("DBKEEPER_ALERT_WEBHOOK_SECRET", "")

BEHIND_TLS_PROXY = env("DBKEEPER_BEHIND_TLS_PROXY", "") == "1"
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(env("DBKEEPER_HSTS_SECONDS", str(365 * 24 * 3600)))
    DBKEEPER["CLIENT_ADDRESS_HEADER"] = "HTTP_X_FORWARDED_FOR"

SESSION_COOKIE_AGE = int(env("DBKEEPER_SESSION_AGE", str(2 * 3600)))
SESSION_SAVE_EVERY_REQUEST = False
LOGIN_URL = "dbkeeper:login"
LOGIN_REDIRECT_URL = "dbkeeper:dashboard"
LOGOUT_REDIRECT_URL = "dbkeeper:login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ar", "العربية")]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env("DBKEEPER_TIME_ZONE", "UTC")  # schedules' default time zone

STATIC_URL = "/static/"
STATIC_ROOT = str(DATA_DIR / "static")

if env("DBKEEPER_EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env("DBKEEPER_EMAIL_HOST")
    EMAIL_PORT = int(env("DBKEEPER_EMAIL_PORT", "25"))
    DEFAULT_FROM_EMAIL = env("DBKEEPER_EMAIL_FROM", "dbkeeper@localhost")
else:
    EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"

LOG_DIR = DATA_DIR / "logs"
if _WRITABLE:
    LOG_DIR.mkdir(exist_ok=True)
# The servers (serve, web, worker, watchdog) log to their stderr and the file
# (DBKEEPER_TERMINAL_LOG_LEVEL: the least level shown on stderr; `serve` sets
# WARNING for its web server, whose INFO lines are one per request);
# the other commands of the command line take the console handler off unless
# run with -v (dbkeeper.cli): their terminal shows a progress bar and sentences.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain",
                    # `serve` shows the web server's warnings only (not a line per request) unless -v.
                    "level": env("DBKEEPER_TERMINAL_LOG_LEVEL", "NOTSET")},
        "file": {"class": "logging.handlers.WatchedFileHandler", "filename": str(LOG_DIR / "dbkeeper.log"), "formatter": "plain"},
    },
    "root": {"handlers": ["console", "file"] if _WRITABLE else ["console"], "level": env("DBKEEPER_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
if not _WRITABLE:
    del LOGGING["handlers"]["file"]
