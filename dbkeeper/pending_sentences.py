"""Sentences that modules owned by work in progress elsewhere (the PostgreSQL
engines and targets, the engine registry) still write as plain English, or
will write with these very templates once they mark them.

They were marked in web/messages.py, which is gone; marked here, the Arabic
catalog keeps their translations (``scripts/messages`` drops what nothing
marks), and a fixed one among them is still shown in Arabic through
render_stored's fallback. Delete an entry once its module marks it itself.
Nothing imports this module."""

from .messages import N_

PENDING = [
    # engines/__init__.py
    N_("This file is not a backup dbkeeper can restore: it is not a PostgreSQL dump (custom format or plain SQL), a SQLite database, a Django fixture or an Odoo backup."),
    # engines/pg_custom.py and pg_plain.py: format labels, shown inside other sentences and on results
    N_("PostgreSQL custom-format dump"),
    N_("PostgreSQL plain SQL dump"),
    N_("This custom-format dump was gzipped afterwards, which pg_restore cannot read (the format is already compressed inside): gunzip it and try again."),
    N_('The SQL dump is incomplete: it lacks pg_dump\'s closing line "PostgreSQL database dump complete", so the file was cut short.'),
    N_("The SQL file holds no SQL statement."),
    N_("psql stopped reading the SQL file before its end."),
    N_("psql stopped at an error: %(error)s (line %(line)s of the SQL file)."),
    N_("psql failed with exit status %(code)s."),
    N_("psql failed: %(error)s"),
    N_("pg_restore failed on %(item)s: %(reason)s"),
    N_("pg_restore failed: %(reason)s"),
    N_("it stopped with exit status %(code)s without saying why"),
    # targets/postgres.py
    N_("Cannot connect to %(target)s: %(error)s"),
    N_("The live database %(name)s could not be taken aside: other sessions kept connecting to it."),
    # targets/sqlite.py
    N_("The folder %(folder)s does not exist."),
    N_("The restored SQLite file is not self-contained (it has a journal beside it)."),
    N_("The restored SQLite file failed its integrity check: %(problems)s"),
]
