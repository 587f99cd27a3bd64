"""Sentences written by the parts below the web (the worker, the service, the
engines) are stored in English; this puts them in the reader's language when
they are shown. Fixed sentences are translated as they are; sentences with
details in them are matched by pattern and rebuilt from a translated template.
A sentence not known here is shown as written."""

import functools
import re

from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

# Fixed sentences of the worker, the service and the watchdog (marked here so
# that makemessages collects them; translated by gettext() at display time).
FIXED = [
    gettext_noop("Waiting for a worker."),
    gettext_noop("Checking the backup file."),
    gettext_noop("Restoring into a scratch copy; the live database is not touched."),
    gettext_noop("Checking the restored copy."),
    gettext_noop("Putting the restored copy in place of the live database."),
    gettext_noop("The restore finished."),
    gettext_noop("The live database was not changed."),
    gettext_noop("The restore was cancelled."),
    gettext_noop("The restore was cancelled before it started."),
    gettext_noop("Cancelled before it started; nothing was changed."),
    gettext_noop("Cancelling…"),
    gettext_noop("Cancel requested."),
    gettext_noop("This operation has already finished."),
    gettext_noop("There is no stored backup with that id."),
    gettext_noop("The stored backup this restore was started from has been deleted."),
    gettext_noop("The unfinished scratch copy was removed; the live database was not changed."),
    gettext_noop("The worker was stopped while it ran this restore. The live database was not changed; you can start the restore again."),
    gettext_noop("The worker running this restore stopped (it was killed or its machine went down). The live database was not changed; you can start the restore again."),
    gettext_noop("The restore succeeded. Sign in again: the restored database has its own accounts and sessions."),
    gettext_noop("This was the application's own database: its accounts and sessions are now the backup's."),
    gettext_noop("Creating the project's tables in the scratch copy (migrations)."),
    gettext_noop("Loading objects."),
    gettext_noop("Checking foreign keys."),
    gettext_noop("The fixture holds no objects: there is nothing to restore."),
    gettext_noop("No target database was given."),
    gettext_noop("dbkeeper's own database cannot be a restore target."),
    gettext_noop("The backup file is empty."),
    gettext_noop("This file is not a backup dbkeeper can restore: it is not a PostgreSQL dump (custom format or plain SQL), a SQLite database, a Django fixture or an Odoo backup."),
    gettext_noop("The restored SQLite file is not self-contained (it has a journal beside it)."),
    gettext_noop("Unpacking dump.sql from the Odoo backup."),
    gettext_noop("Unpacking the filestore beside the live one."),
    gettext_noop("manifest.json in the Odoo backup is not a JSON object."),
    gettext_noop("This Odoo backup has a filestore, but no Odoo filestore folder is configured: set ODOO_FILESTORE_DIR in the DBKEEPER settings (Odoo's data_dir/filestore). Nothing was changed."),
    gettext_noop("This zip is not an Odoo backup: it has no dump.sql."),
    gettext_noop("This custom-format dump was gzipped afterwards, which pg_restore cannot read (the format is already compressed inside): gunzip it and try again."),
    gettext_noop('The SQL dump is incomplete: it lacks pg_dump\'s closing line "PostgreSQL database dump complete", so the file was cut short.'),
    gettext_noop("The SQL file holds no SQL statement."),
    gettext_noop("psql stopped reading the SQL file before its end."),
    gettext_noop("The SQLite file is damaged: its 100-byte header is incomplete."),
    # Backup format labels, shown inside other sentences.
    gettext_noop("PostgreSQL custom-format dump"),
    gettext_noop("PostgreSQL plain SQL dump"),
    gettext_noop("SQLite database"),
    gettext_noop("Django JSON fixture"),
    gettext_noop("Odoo backup"),
]

# Sentences with details: (pattern of the English sentence, translatable template).
PATTERNS = [
    (r"Restore of (?P<source>.+) into (?P<target>.+) queued\.",
     gettext_noop("Restore of %(source)s into %(target)s queued.")),
    (r"The backup is a (?P<label>.+) of (?P<size>[\d.]+ (?:bytes|KB|MB|GB|TB)) with (?P<tables>\d+) table\(s\)\.",
     gettext_noop("The backup is a %(label)s of %(size)s with %(tables)s table(s).")),
    (r"The previous database was kept as (?P<name>.+)\.",
     gettext_noop("The previous database was kept as %(name)s.")),
    (r"The restore succeeded in (?P<seconds>\d+) s\.",
     gettext_noop("The restore succeeded in %(seconds)s s.")),
    (r"Cancel requested by (?P<by>.+)\.",
     gettext_noop("Cancel requested by %(by)s.")),
    (r"Another restore of (?P<target>.+?) is already running(?P<which> \(operation [^)]+\))?\. "
     r"Wait for it to finish or cancel it, then try again\.",
     gettext_noop("Another restore of %(target)s is already running%(which)s. Wait for it to finish or cancel it, then try again.")),
    (r"There is no target named (?P<name>.+)\.",
     gettext_noop("There is no target named %(name)s.")),
    (r"A (?P<label>.+) cannot be restored into a (?P<kind>\w+) database\.",
     gettext_noop("A %(label)s cannot be restored into a %(kind)s database.")),
    (r"The restore stopped on an unexpected error: (?P<error>.+)\.",
     gettext_noop("The restore stopped on an unexpected error: %(error)s.")),
    (r"The target URL is not valid: (?P<error>.+)\.",
     gettext_noop("The target URL is not valid: %(error)s.")),
    (r"The backup file (?P<name>.+) does not exist\.",
     gettext_noop("The backup file %(name)s does not exist.")),
    (r"Cannot connect to (?P<target>\S+): (?P<error>.+)",
     gettext_noop("Cannot connect to %(target)s: %(error)s")),
    (r"The unfinished scratch copy (?P<name>.+) could not be removed: (?P<error>.+)\.",
     gettext_noop("The unfinished scratch copy %(name)s could not be removed: %(error)s.")),
    (r"The restored copy is missing (?P<count>\d+) table\(s\) of the backup: (?P<tables>.+)\.",
     gettext_noop("The restored copy is missing %(count)s table(s) of the backup: %(tables)s.")),
    (r"The PostgreSQL tool (?P<name>\S+) is not installed on this machine\.",
     gettext_noop("The PostgreSQL tool %(name)s is not installed on this machine.")),
    (r"There is no database alias (?P<alias>.+) in this project's DATABASES\.",
     gettext_noop("There is no database alias %(alias)s in this project's DATABASES.")),
    (r"The live database (?P<name>.+) could not be taken aside: other sessions kept connecting to it\.",
     gettext_noop("The live database %(name)s could not be taken aside: other sessions kept connecting to it.")),
    (r"The folder (?P<folder>.+) does not exist\.",
     gettext_noop("The folder %(folder)s does not exist.")),
    (r"The SQLite file is damaged: (?P<error>.+)\.",
     gettext_noop("The SQLite file is damaged: %(error)s.")),
    (r"Unpacked (?P<count>\d+) filestore file\(s\)\.",
     gettext_noop("Unpacked %(count)s filestore file(s).")),
]
_COMPILED = [(re.compile(p, re.DOTALL), template) for p, template in PATTERNS]
# Details that are themselves fixed words (format labels) are translated too.
_TRANSLATED_DETAILS = {"label"}


def localize(message: str) -> str:
    """``message`` in the active language when it is a known sentence."""
    if not message:
        return message
    return _localize(message, get_language())


@functools.lru_cache(maxsize=4096)
def _localize(message, language):
    # ``language`` is part of the cache key: it is the language _() uses.
    translated = _(message)
    if translated != message:
        return translated
    for pattern, template in _COMPILED:
        match = pattern.fullmatch(message)
        if match:
            values = {k: (v or "") for k, v in match.groupdict().items()}
            for key in _TRANSLATED_DETAILS & values.keys():
                values[key] = _(values[key])
            return _(template) % values
    return message
