"""Settings for the in-process tests: the standalone server's, on a throwaway
data folder, with short heartbeats so fault tests run in seconds."""

import os
import tempfile

os.environ.setdefault("DBKEEPER_DATA_DIR", tempfile.mkdtemp(prefix="dbkeeper-test-"))

from dbkeeper.site.settings import *  # noqa: E402,F401,F403
from dbkeeper.site.settings import DATA_DIR, DATABASES, DBKEEPER  # noqa: E402

DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-control.sqlite3")}
DBKEEPER.update(HEARTBEAT_SECONDS=1, HEARTBEAT_TIMEOUT=5, WATCHDOG_INTERVAL=1, PROGRESS_WRITES_PER_SECOND=10)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "INFO", "handlers": []}}
