"""Every sentence the page scripts show, translated on the server and handed
to them as JSON (``{name}`` marks a detail the script fills in).

A sentence that depends on a count is handed over as its forms by plural
category (``{"one": …, "few": …, "other": …}``): the server's ngettext gives
each form for a sample count of that category, and the script picks the form
with Intl.PluralRules (see ``plural`` in common.js)."""

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

# A count of each Unicode plural category, as Intl.PluralRules names them; in
# the page's languages every count of a category takes ngettext's form for it.
PLURAL_SAMPLES = {"zero": 0, "one": 1, "two": 2, "few": 3, "many": 11, "other": 100}


def _plural(singular: str, plural: str) -> dict:
    return {category: ngettext(singular, plural, n) for category, n in PLURAL_SAMPLES.items()}


def format_names() -> dict:
    """The registered backup formats by their code, with their engines'
    labels in the active language."""
    from .. import engines

    return {engine.format: _(engine.label) for engine in engines.all_engines()}


def format_name(code: str, label: str = "") -> str:
    return format_names().get(code) or label or code


def size_text(n) -> str:
    """A size with the pages' own units (the scripts' ``size`` in common.js)."""
    units = [_("{n} bytes"), _("{n} KB"), _("{n} MB"), _("{n} GB"), _("{n} TB")]
    value, i = float(n or 0), 0
    while value >= 1024 and i < len(units) - 1:
        value /= 1024
        i += 1
    from django.utils.formats import number_format

    shown = number_format(round(value), 0) if i == 0 or value == round(value) else number_format(value, 1)
    # A no-break space keeps the number beside its unit.
    return units[i].replace(" ", "\u00a0").replace("{n}", shown)


def js_strings() -> dict:
    from ..operations.wordings import page_wordings

    return {
        "formats": format_names(),
        # How each kind of operation speaks of itself (operations/wordings.py), by its row's key.
        "kinds": page_wordings(_),
        # Statuses.
        "status_queued": _("queued"),
        "status_running": _("running"),
        "status_cancelling": _("cancelling"),
        "status_succeeded": _("succeeded"),
        "status_failed": _("failed"),
        "status_cancelled": _("cancelled"),
        "preparing": _("Preparing… creating the temporary authentication token"),
        # Progress figures.
        "done_of_total": _("{done} of {total}"),
        # What a restore counts, by what it counts: bytes of what (by backup format), or things.
        "count_bytes_pg_custom": _("{done} of {total} of table data"),
        "count_bytes_pg_plain": _("{done} of {total} of SQL"),
        "count_bytes_sqlite": _("{done} of {total} of the database file"),
        "count_bytes_odoo_zip": _("{done} of {total} of SQL and files"),
        "count_tables": _plural("{done} of {total} table", "{done} of {total} tables"),
        "count_rows": _plural("{done} of {total} row", "{done} of {total} rows"),
        "count_objects": _plural("{done} of {total} object", "{done} of {total} objects"),
        "count_statements": _plural("{done} of {total} statement", "{done} of {total} statements"),
        "count_files": _plural("{done} of {total} file", "{done} of {total} files"),
        "table_count": _plural("{n} table", "{n} tables"),
        "eta": _("About {time} left"),
        "eta_unknown": _("Estimating the time left…"),
        "time_s": _("{s} s"),
        "time_m_s": _("{m} min {s} s"),
        "time_h_m": _("{h} h {m} min"),
        "size_bytes": _("{n} bytes"),
        "size_kb": _("{n} KB"),
        "size_mb": _("{n} MB"),
        "size_gb": _("{n} GB"),
        "size_tb": _("{n} TB"),
        "unit_tables": _("tables"),
        "unit_rows": _("rows"),
        "unit_objects": _("objects"),
        "unit_statements": _("statements"),
        "unit_items": _("items"),
        "unit_entries": _("entries"),
        "unit_files": _("files"),
        # Trouble.
        "reconnecting": _("Reconnecting… (attempt {n} of {max})"),
        "lost_link": _("Open the operations page"),
        "signin_link": _("Sign in"),
        "server_error": _("The server answered with an error ({status})."),
        "session_expired": _("Your session has expired. Sign in again."),
        # Endings.
        "succeeded_contents": _("{format}, {tables}, {size}."),
        "prerestore": _("The previous database was kept as {name}; you can drop it when you no longer need it."),
        "signin_after_restore": _("The restored database has its own accounts and sessions: sign in again."),
        "event_log": _("Event log"),
        "another": _("Start another restore"),
        "notify_blocked": _("This browser blocks notifications from this site."),
        # Restore page.
        "type_to_confirm": _("Type {name} to confirm that this database will be replaced."),
        "not_confirmed": _("The name you typed does not match the target."),
        "upload_progress": _("Uploading… {percent}"),
        "upload_retrying": _("The upload was interrupted; resuming…"),
        "upload_failed": _("The upload failed: {error}"),
        "upload_done": _("Uploaded and recognised."),
        "upload_unavailable": _("Uploading is not available on this server; choose a stored backup."),
        "backup_summary": _("{format}, {size}, {tables}"),
        "server_version": _("Made by server version {version}"),
        "compressed": _("compressed"),
        "target_added": _("Target {name} added."),
        "start_failed": _("The restore could not be started: {error}"),
        # Upload page.
        "upload_sending": _("Uploading {name}: {sent} of {total}"),
        "upload_resumed_at": _("(resumed at {offset})"),
        "upload_connection_lost": _("The connection to the server was lost."),
        "upload_retry_in": _("{error} Trying again in {time}…"),
        "upload_storing": _("Checking and storing {name}…"),
        "upload_stored": _("{name} is stored as a backup."),
        "backup_stored_as": _("Stored as"),
        "backup_format": _("Format"),
        "backup_size": _("Size"),
        "backup_sha256": _("SHA-256"),
        # Operations page.
        "cancel": _("Cancel"),
        "cancel_confirm": _("Cancel the restore of {source} into {target}? The live database stays as it is."),
        "cancel_requested": _("Cancel requested."),
        "view_progress": _("View progress"),
        "details": _("Details"),
        "no_operations": _("No operations yet."),
        "refresh_failed": _("The list could not be refreshed; trying again."),
        # Backups page.
        "no_backups": _("No backups match."),
        "download": _("Download"),
        "restore_this": _("Restore this"),
        "verify": _("Verify"),
        "verify_next_to": _("Test-restore next to"),
        "pin": _("Pin"),
        "unpin": _("Unpin"),
        "delete": _("Delete"),
        "unpin_to_delete": _("A pinned backup is not deleted: unpin it first."),
        "backup_id": _("Backup id"),
        "delete_confirm_help": _("Type {id} to confirm that this backup, its file and its manifest will be deleted."),
        "deleted": _("Backup {id} was deleted."),
        # A backup's details on the Backups page.
        "field_made": _("Made"),
        "field_database": _("Database"),
        "field_tables": _("Tables"),
        "field_versions": _("Versions"),
        "field_storage": _("Storage"),
        "field_encryption": _("Encrypted to"),
        "field_pinned": _("Pinned"),
        "field_verified": _("Last verification"),
        "origin_manual": _("by {user}"),
        "origin_upload": _("uploaded by {user}"),
        "origin_schedule": _("by schedule {id}"),
        "versions": _("{tool}; server {server}"),
        "storage_at": _("{storage}: {name}"),
        "not_encrypted": _("not encrypted"),
        "never_verified": _("never verified"),
        "verified_passed": _("passed on {date}: {message}"),
        "verified_failed": _("failed on {date}: {message}"),
        "no_table_counts": _("no row counts in the catalog"),
        "table_rows": _plural("{table}: {n} row", "{table}: {n} rows"),
        "yes": _("yes"),
        "no": _("no"),
        "badge_encrypted": _("encrypted"),
        "badge_pinned": _("pinned"),
        "badge_verified": _("verified"),
        "badge_verify_failed": _("verification failed"),
    }
