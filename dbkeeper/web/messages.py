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
    # Words and phrases of the engines that appear inside other sentences.
    gettext_noop("zip file"),
    gettext_noop("(unknown version)"),
    gettext_noop("the backup's grants (GRANT/REVOKE) were left out"),
    # engines/pgarchive.py: what is wrong with a custom-format dump, and where.
    gettext_noop("This is not a PostgreSQL custom-format dump: it does not start with PGDMP."),
    gettext_noop("The dump is corrupt: its header gives an impossible integer size."),
    gettext_noop("The dump is corrupt: its header gives an impossible offset size."),
    gettext_noop("The dump is corrupt: its header names an unknown compression method."),
    gettext_noop("The dump is corrupt: its table of contents has a negative size."),
    gettext_noop("The dump is corrupt: its table of contents holds an invalid entry."),
    gettext_noop("the header"),
    gettext_noop("the table of contents"),
    gettext_noop("a data block header"),
    gettext_noop("the large objects"),
    # Stored with a failed upload and shown on its result.
    gettext_noop("The file arrived whole but could not be stored as a backup; the server log says why. Try again or ask an administrator."),
    gettext_noop("The server stopped while it was storing this file, so it was not stored; upload it again."),
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
# Sentences of the engines and targets (errors and events), and the phrases
# that go into them (matched again when they fill a detail; see _NESTED_DETAILS).
ENGINE_PATTERNS = [
    # engines/__init__.py
    (r"The file looks gzipped but cannot be decompressed: (?P<error>.+)\.",
     gettext_noop("The file looks gzipped but cannot be decompressed: %(error)s.")),
    # engines/fixtures*.py
    (r"Object number (?P<number>\d+) of the fixture is not a Django object \(it needs a \"model\" name and a \"fields\" mapping\)\.",
     gettext_noop("Object number %(number)s of the fixture is not a Django object (it needs a \"model\" name and a \"fields\" mapping).")),
    (r"Object number (?P<number>\d+) of the fixture is not a Django object\.",
     gettext_noop("Object number %(number)s of the fixture is not a Django object.")),
    (r"The fixture cannot be read: (?P<error>.+)\.",
     gettext_noop("The fixture cannot be read: %(error)s.")),
    (r"The fixture holds objects of models this project does not have: (?P<models>.+)\. "
     r"Restore it into the project it was made from, or remove those objects from the file\.",
     gettext_noop("The fixture holds objects of models this project does not have: %(models)s. Restore it into the project it was made from, or remove those objects from the file.")),
    (r"The fixture holds dbkeeper's own records \((?P<models>.+)\); those are never restored\. "
     r"Make the fixture without the dbkeeper app \(dumpdata --exclude dbkeeper\)\.",
     gettext_noop("The fixture holds dbkeeper's own records (%(models)s); those are never restored. Make the fixture without the dbkeeper app (dumpdata --exclude dbkeeper).")),
    (r"The restored copy is missing the table\(s\) (?P<tables>.+)\.",
     gettext_noop("The restored copy is missing the table(s) %(tables)s.")),
    (r"The fixture is not valid JSON \(near byte (?P<position>[\d,]+) of the uncompressed file\): (?P<error>.+)\. Was the file cut short\?",
     gettext_noop("The fixture is not valid JSON (near byte %(position)s of the uncompressed file): %(error)s. Was the file cut short?")),
    (r"The fixture is not valid JSON: (?P<error>.+)\. Was the file cut short\?",
     gettext_noop("The fixture is not valid JSON: %(error)s. Was the file cut short?")),
    (r"The project's migrations failed on the scratch copy: (?P<error>.+)\.",
     gettext_noop("The project's migrations failed on the scratch copy: %(error)s.")),
    (r"The fixture holds objects of (?P<model>\S+), a model this project does not have\.",
     gettext_noop("The fixture holds objects of %(model)s, a model this project does not have.")),
    (r"Objects of (?P<model>\S+) could not be written: (?P<error>.+)\.",
     gettext_noop("Objects of %(model)s could not be written: %(error)s.")),
    (r"A many-to-many link (?P<link>.+?) could not be written: (?P<error>.+)\.",
     gettext_noop("A many-to-many link %(link)s could not be written: %(error)s.")),
    (r"The fixture's objects break a constraint of the database: (?P<error>.+)\.",
     gettext_noop("The fixture's objects break a constraint of the database: %(error)s.")),
    (r"The many-to-many link (?P<link>.+?) refers to a (?P<model>\S+) \((?P<value>.*)\) that is not in the backup\.",
     gettext_noop("The many-to-many link %(link)s refers to a %(model)s (%(value)s) that is not in the backup.")),
    (r"The object (?P<model>\S+) without a primary key cannot be restored: (?P<reason>.+)\. Nothing was changed\.",
     gettext_noop("The object %(model)s without a primary key cannot be restored: %(reason)s. Nothing was changed.")),
    (r"The object (?P<model>\S+) with primary key (?P<pk>.+?) cannot be restored: (?P<reason>.+)\. Nothing was changed\.",
     gettext_noop("The object %(model)s with primary key %(pk)s cannot be restored: %(reason)s. Nothing was changed.")),
    (r"it has a field (?P<name>.+) that this project's (?P<model>\S+) does not have",
     gettext_noop("it has a field %(name)s that this project's %(model)s does not have")),
    (r"field (?P<name>\S+) must be a list",
     gettext_noop("field %(name)s must be a list")),
    (r"field (?P<name>\S+): (?P<reason>.+)",
     gettext_noop("field %(name)s: %(reason)s")),
    (r"primary key: (?P<reason>.+)",
     gettext_noop("primary key: %(reason)s")),
    (r"its field (?P<name>\S+) refers to (?P<model>\S+) (?P<value>.+), which is not in the backup",
     gettext_noop("its field %(name)s refers to %(model)s %(value)s, which is not in the backup")),
    (r"it refers to the (?P<model>\S+) with natural key (?P<key>.+), which is not in the backup \(or comes after it in the file\)",
     gettext_noop("it refers to the %(model)s with natural key %(key)s, which is not in the backup (or comes after it in the file)")),
    # engines/pgarchive.py (through pg_custom.py)
    (r"The dump is truncated: it ends inside (?P<what>.+)\.",
     gettext_noop("The dump is truncated: it ends inside %(what)s.")),
    (r"The dump is truncated: the data of (?P<names>.+) is missing\.",
     gettext_noop("The dump is truncated: the data of %(names)s is missing.")),
    (r"The dump is corrupt: an invalid number was found in (?P<what>.+)\.",
     gettext_noop("The dump is corrupt: an invalid number was found in %(what)s.")),
    (r"The dump is corrupt: an invalid data offset was found in (?P<what>.+)\.",
     gettext_noop("The dump is corrupt: an invalid data offset was found in %(what)s.")),
    (r"This pg_dump archive is in the (?P<name>.+) format; dbkeeper restores the custom format \(pg_dump -Fc\)\.",
     gettext_noop("This pg_dump archive is in the %(name)s format; dbkeeper restores the custom format (pg_dump -Fc).")),
    (r"The dump is corrupt: unexpected bytes at position (?P<position>[\d,]+) where a data block should start\.",
     gettext_noop("The dump is corrupt: unexpected bytes at position %(position)s where a data block should start.")),
    (r"The dump is corrupt: the data of (?P<what>.+?) is not where its table of contents says\.",
     gettext_noop("The dump is corrupt: the data of %(what)s is not where its table of contents says.")),
    (r"The dump is corrupt: an invalid chunk length was found in the data of (?P<what>.+)\.",
     gettext_noop("The dump is corrupt: an invalid chunk length was found in the data of %(what)s.")),
    (r"The dump is corrupt: a piece of the data of (?P<what>.+) runs past the end of its block\.",
     gettext_noop("The dump is corrupt: a piece of the data of %(what)s runs past the end of its block.")),
    (r"The dump is corrupt: the compressed data of (?P<what>.+) does not end where it should\.",
     gettext_noop("The dump is corrupt: the compressed data of %(what)s does not end where it should.")),
    (r"The dump is corrupt: the data of (?P<what>.+) runs past where the next block starts\.",
     gettext_noop("The dump is corrupt: the data of %(what)s runs past where the next block starts.")),
    (r"The dump is corrupt: the data of (?P<what>.+) does not end where its table of contents says\.",
     gettext_noop("The dump is corrupt: the data of %(what)s does not end where its table of contents says.")),
    (r"The dump is corrupt: the data of (?P<what>.+) cannot be decompressed \((?P<error>.+)\)\.",
     gettext_noop("The dump is corrupt: the data of %(what)s cannot be decompressed (%(error)s).")),
    (r"the data of (?P<what>.+)",
     gettext_noop("the data of %(what)s")),
    (r"table (?P<name>\S+)",
     gettext_noop("table %(name)s")),
    # engines/odoo.py
    (r"The Odoo filestore folder (?P<folder>.+) cannot be created: (?P<error>.+)\.",
     gettext_noop("The Odoo filestore folder %(folder)s cannot be created: %(error)s.")),
    (r"manifest\.json in the Odoo backup is not valid JSON: (?P<error>.+)\.",
     gettext_noop("manifest.json in the Odoo backup is not valid JSON: %(error)s.")),
    # engines/pg_custom.py and pg_plain.py
    (r"This dump was made by pg_dump (?P<version>.+?) \(archive version (?P<archive>[^)]+)\), which the installed "
     r"pg_restore (?P<major>\S+) cannot read: install newer PostgreSQL client tools on the worker\.",
     gettext_noop("This dump was made by pg_dump %(version)s (archive version %(archive)s), which the installed pg_restore %(major)s cannot read: install newer PostgreSQL client tools on the worker.")),
    (r"The backup refers to (?P<reasons>.+?): (?P<count>\d+) ownership or privilege statement\(s\) naming them were "
     r"left out, so those objects belong to (?P<user>.+), the user dbkeeper connects as\.",
     gettext_noop("The backup refers to %(reasons)s: %(count)s ownership or privilege statement(s) naming them were left out, so those objects belong to %(user)s, the user dbkeeper connects as.")),
    (r"The backup refers to (?P<reasons>.+?): (?P<notes>(?:the restored objects|the backup's grants).+)\.",
     gettext_noop("The backup refers to %(reasons)s: %(notes)s.")),
    (r"roles this server does not have \((?P<names>.+)\)",
     gettext_noop("roles this server does not have (%(names)s)")),
    (r"roles (?P<user>.+?) may not act as \((?P<names>.+)\)",
     gettext_noop("roles %(user)s may not act as (%(names)s)")),
    (r"grants made as other roles, which needs a superuser \((?P<names>.+)\)",
     gettext_noop("grants made as other roles, which needs a superuser (%(names)s)")),
    (r"the restored objects now belong to (?P<user>.+), the user dbkeeper connects as",
     gettext_noop("the restored objects now belong to %(user)s, the user dbkeeper connects as")),
    (r"pg_restore failed on (?P<item>.+?): (?P<reason>.+)",
     gettext_noop("pg_restore failed on %(item)s: %(reason)s")),
    (r"pg_restore failed: (?P<reason>.+)",
     gettext_noop("pg_restore failed: %(reason)s")),
    (r"it stopped with exit status (?P<code>-?\d+) without saying why",
     gettext_noop("it stopped with exit status %(code)s without saying why")),
    (r"psql stopped at an error: (?P<error>.+) \(line (?P<line>-?\d+) of the SQL file\)\.",
     gettext_noop("psql stopped at an error: %(error)s (line %(line)s of the SQL file).")),
    (r"psql failed with exit status (?P<code>-?\d+)\.",
     gettext_noop("psql failed with exit status %(code)s.")),
    (r"psql failed: (?P<error>.+)",
     gettext_noop("psql failed: %(error)s")),
    (r"The SQL file ends inside (?P<where>.+); it was probably cut short\.",
     gettext_noop("The SQL file ends inside %(where)s; it was probably cut short.")),
    (r"the data of the COPY statement on line (?P<line>\d+)",
     gettext_noop("the data of the COPY statement on line %(line)s")),
    (r"a quoted string that starts on line (?P<line>\d+)",
     gettext_noop("a quoted string that starts on line %(line)s")),
    (r"a quoted name that starts on line (?P<line>\d+)",
     gettext_noop("a quoted name that starts on line %(line)s")),
    (r"a dollar-quoted text that starts on line (?P<line>\d+)",
     gettext_noop("a dollar-quoted text that starts on line %(line)s")),
    (r"a /\* comment \*/ that starts on line (?P<line>\d+)",
     gettext_noop("a /* comment */ that starts on line %(line)s")),
    (r"the COPY statement on line (?P<line>\d+), before its data",
     gettext_noop("the COPY statement on line %(line)s, before its data")),
    (r"The gzipped SQL file is damaged or cut short: (?P<error>.+)\.",
     gettext_noop("The gzipped SQL file is damaged or cut short: %(error)s.")),
    # engines/sqlite.py and targets/sqlite.py
    (r"The gzipped SQLite file is damaged or cut short: (?P<error>.+)\.",
     gettext_noop("The gzipped SQLite file is damaged or cut short: %(error)s.")),
    (r"The restored SQLite file is not self-contained: (?P<files>.+) files remain beside it\.",
     gettext_noop("The restored SQLite file is not self-contained: %(files)s files remain beside it.")),
    (r"The SQLite file is damaged: its header gives an impossible page size \((?P<size>\d+)\)\.",
     gettext_noop("The SQLite file is damaged: its header gives an impossible page size (%(size)s).")),
    (r"The SQLite file is cut short: its header says (?P<pages>\d+) pages of (?P<page_size>\d+) bytes "
     r"\((?P<expected>\d+) bytes\), but the file holds (?P<size>\d+) bytes\.",
     gettext_noop("The SQLite file is cut short: its header says %(pages)s pages of %(page_size)s bytes (%(expected)s bytes), but the file holds %(size)s bytes.")),
    (r"The restored SQLite file could not be switched to (?P<mode>\S+) journal mode \(it stayed in (?P<got>\S+)\)\.",
     gettext_noop("The restored SQLite file could not be switched to %(mode)s journal mode (it stayed in %(got)s).")),
    (r"The restored SQLite file cannot be read: (?P<error>.+)\.",
     gettext_noop("The restored SQLite file cannot be read: %(error)s.")),
    (r"The restored SQLite file failed its integrity check: (?P<problems>.+)",
     gettext_noop("The restored SQLite file failed its integrity check: %(problems)s")),
    # targets/postgres.py and targets/sqlite.py
    (r"(?P<name>.+) is not a scratch or pre-restore copy of (?P<live>.+); it was not dropped\.",
     gettext_noop("%(name)s is not a scratch or pre-restore copy of %(live)s; it was not dropped.")),
    (r"(?P<name>.+) is not a scratch or pre-restore copy of (?P<live>.+); it was not removed\.",
     gettext_noop("%(name)s is not a scratch or pre-restore copy of %(live)s; it was not removed.")),
    # engines/zipsafe.py
    (r"The (?P<what>.+?) cannot be read as a zip file: (?P<error>.+)\.",
     gettext_noop("The %(what)s cannot be read as a zip file: %(error)s.")),
    (r"The (?P<what>.+?) was refused before anything was unpacked: (?P<reason>.+)\.",
     gettext_noop("The %(what)s was refused before anything was unpacked: %(reason)s.")),
    (r"it holds (?P<count>[\d,]+) entries, more than the limit of (?P<limit>[\d,]+)",
     gettext_noop("it holds %(count)s entries, more than the limit of %(limit)s")),
    (r"the entry (?P<name>.+) appears twice",
     gettext_noop("the entry %(name)s appears twice")),
    (r"the entry (?P<name>.+) is a symbolic link",
     gettext_noop("the entry %(name)s is a symbolic link")),
    (r"the entry (?P<name>.+) is not a regular file or folder",
     gettext_noop("the entry %(name)s is not a regular file or folder")),
    (r"the entry (?P<name>.+) is encrypted",
     gettext_noop("the entry %(name)s is encrypted")),
    (r"the entry (?P<name>.+) uses a compression method dbkeeper cannot read",
     gettext_noop("the entry %(name)s uses a compression method dbkeeper cannot read")),
    (r"the entry (?P<name>.+) claims (?P<size>.+) from no data at all \(a zip bomb\)",
     gettext_noop("the entry %(name)s claims %(size)s from no data at all (a zip bomb)")),
    (r"the entry (?P<name>.+) would grow from (?P<packed>.+) to (?P<size>.+) \(a zip bomb\)",
     gettext_noop("the entry %(name)s would grow from %(packed)s to %(size)s (a zip bomb)")),
    (r"it would unpack to (?P<size>.+), more than the limit of (?P<limit>.+) \(a zip bomb\?\)",
     gettext_noop("it would unpack to %(size)s, more than the limit of %(limit)s (a zip bomb?)")),
    (r"an entry has an invalid name (?P<name>.+)",
     gettext_noop("an entry has an invalid name %(name)s")),
    (r"the entry (?P<name>.+) has an absolute path",
     gettext_noop("the entry %(name)s has an absolute path")),
    (r"the entry (?P<name>.+) points outside the folder it is unpacked into \(\.\.\)",
     gettext_noop("the entry %(name)s points outside the folder it is unpacked into (..)")),
    (r"the entries (?P<first>.+) and (?P<second>.+) share their data \(a zip bomb\)",
     gettext_noop("the entries %(first)s and %(second)s share their data (a zip bomb)")),
    (r"(?P<name>.+) in the (?P<what>.+?) is (?P<size>.+); at most (?P<limit>.+) is expected\.",
     gettext_noop("%(name)s in the %(what)s is %(size)s; at most %(limit)s is expected.")),
    (r"(?P<name>.+) in the (?P<what>.+?) cannot be read: (?P<error>.+)\.",
     gettext_noop("%(name)s in the %(what)s cannot be read: %(error)s.")),
    (r"(?P<name>.+) in the (?P<what>.+?) is larger than its header says\.",
     gettext_noop("%(name)s in the %(what)s is larger than its header says.")),
    (r"(?P<name>.+) in the (?P<what>.+?) unpacks to more than its header says \(a zip bomb\)\.",
     gettext_noop("%(name)s in the %(what)s unpacks to more than its header says (a zip bomb).")),
    (r"(?P<name>.+) in the (?P<what>.+?) is cut short \((?P<done>[\d,]+) of (?P<size>[\d,]+) bytes\)\.",
     gettext_noop("%(name)s in the %(what)s is cut short (%(done)s of %(size)s bytes).")),
    (r"(?P<name>.+) in the (?P<what>.+?) is damaged: (?P<error>.+)\.",
     gettext_noop("%(name)s in the %(what)s is damaged: %(error)s.")),
    (r"The entry (?P<name>.+) would be unpacked outside its folder; it was refused\.",
     gettext_noop("The entry %(name)s would be unpacked outside its folder; it was refused.")),
]
# The engines' sentences go first: the more general sentences above
# ("The SQLite file is damaged: …") would otherwise catch some of them.
_COMPILED = [(re.compile(p, re.DOTALL), template) for p, template in ENGINE_PATTERNS + PATTERNS]
# Details that are themselves known words or sentences (format labels, the
# reason a zip was refused, …) are put in the reader's language too.
_NESTED_DETAILS = {"label", "what", "reason", "where", "version"}
# Details that are lists of known phrases, with the words that join them.
_LIST_DETAILS = {"reasons": gettext_noop(" and "), "notes": gettext_noop("; ")}


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
            for key in _NESTED_DETAILS & values.keys():
                values[key] = _localize(values[key], language)
            for key in _LIST_DETAILS.keys() & values.keys():
                joiner = _LIST_DETAILS[key]
                values[key] = _(joiner).join(_localize(part, language) for part in values[key].split(joiner))
            return _(template) % values
    return message
