"""Settings of the example host project: a small Django application that
runs dbkeeper inside itself, as the README's "Use inside your Django project"
describes.

- EXAMPLE_DATABASE_URL: the application's database (postgresql://…); a SQLite
  file in the data folder when unset.
- EXAMPLE_DATA_DIR: data folder (default ./data beside manage.py).
- EXAMPLE_CONN_MAX_AGE: seconds a database connection is kept between
  requests (default 60; 0 closes it after each request).
"""

import os
from pathlib import Path

from dbkeeper.dburl import DbUrl

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("EXAMPLE_DATA_DIR", BASE_DIR / "data")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("EXAMPLE_SECRET_KEY", "example-project-not-for-production")
DEBUG = os.environ.get("EXAMPLE_DEBUG", "") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "accounts",
    "shop",
    "dbkeeper",
    "dbkeeper.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # dbkeeper: a restore of this database deletes the sessions; its JSON
    # endpoints then answer normally instead of failing on the session save.
    "dbkeeper.access.middleware.SessionGuardMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "example.urls"
WSGI_APPLICATION = "example.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# The application's own database (users and sessions included) ...
if os.environ.get("EXAMPLE_DATABASE_URL"):
    _default = DbUrl.parse(os.environ["EXAMPLE_DATABASE_URL"]).django_settings()
else:
    _default = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DATA_DIR / "example.sqlite3")}

# Connections kept between requests are checked before reuse, as the README
# says: a restore ends the connections to the database it replaces.
_default["CONN_MAX_AGE"] = int(os.environ.get("EXAMPLE_CONN_MAX_AGE", "60"))
_default["CONN_HEALTH_CHECKS"] = True

DATABASES = {
    "default": _default,
    # ... and dbkeeper's records (operations, progress, tokens) apart from it,
    # so that restoring the application's database cannot erase them.
    "dbkeeper": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DATA_DIR / "dbkeeper.sqlite3"),
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE", "timeout": 30},
    },
}
DATABASE_ROUTERS = ["dbkeeper.router.ControlRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DBKEEPER = {
    "DATA_DIR": str(DATA_DIR / "dbkeeper"),
    "DATABASE": "dbkeeper",
    # What staff may restore from the restore page: this application's own database.
    "TARGETS": {"application": "alias:default"},
    "ODOO_FILESTORE_DIR": os.environ.get("EXAMPLE_ODOO_FILESTORE_DIR") or None,
}
# The tests shorten the worker's heartbeat.
for _name in ("HEARTBEAT_SECONDS", "HEARTBEAT_TIMEOUT", "WATCHDOG_INTERVAL"):
    if os.environ.get(f"DBKEEPER_{_name}"):
        DBKEEPER[_name] = float(os.environ[f"DBKEEPER_{_name}"])

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# dbkeeper e-mails the end of a restore; the example shows the mail in the worker's output.
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ar", "العربية")]
STATIC_URL = "/static/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
