"""How each kind of operation speaks of itself: one table, one row per kind.

The progress page (heading, title, stages, endings, cancel question, "notify
me"), the browser notification, the in-app notification and the e-mail all
read their words here, so that a copy or a drop never says "restore". A
restore into a new database (``Operation.database`` set) has its own row,
"create". The sentences are marked with N_ and translated when shown:

- the page's sentences use ``{name}`` placeholders (the scripts fill them in:
  ``{source}``, ``{target}``, ``{database}``, ``{duration}``);
- the notification and e-mail sentences use ``%(name)s`` (``names``).

Imports nothing above the shared modules and the operation model."""

from dataclasses import dataclass, field

from ..messages import N_

# Sentences the restore row and the others share.
_QUEUED = N_("Waiting for a worker")
_DONE = N_("Done")
_LOST = N_("The connection to the server was lost. The operation goes on in the background: "
           "you will find it, and how it ended, on the operations page.")
_SIGNIN = N_("Sign in again to see how the operation ended.")
_FORBIDDEN = N_("You are not allowed to see this operation.")
_NOT_FOUND = N_("This operation does not exist (any more).")


@dataclass(frozen=True)
class KindWording:
    heading: str  # the page's heading and title
    title: str  # the tracker's title when the names are unknown
    title_of: str  # ... when they are known ({source}, {target}, {database})
    stages: dict  # stage -> what is being done
    succeeded: str  # the ending's title (and the browser notification's)
    failed: str
    cancelled: str
    body: str  # the ending of a success ({duration} ...); "" = the worker's own sentence
    unchanged: str  # said after a failure or a cancel
    cancel: str  # the cancel button
    cancel_confirm: str  # asked before cancelling
    notify_on: str  # once the browser may notify
    note_succeeded: str  # the in-app notification (%(source)s, %(target)s, %(database)s)
    note_failed: str
    note_cancelled: str
    mail_succeeded: str  # the e-mail's subject
    mail_failed: str
    mail_cancelled: str
    mail_body: str  # the first line of a success's e-mail; "" = the worker's own sentence
    after: str  # the link after the end: "another" (restore page), "backups", "databases"
    mail_kept: str = ""  # said in a success's e-mail when a pre-restore copy was kept (%(name)s)
    lost: str = _LOST
    signin_again: str = _SIGNIN
    forbidden: str = _FORBIDDEN
    not_found: str = _NOT_FOUND
    extra: dict = field(default_factory=dict)  # more sentences a kind needs


RESTORE_STAGES = {
    "queued": _QUEUED,
    "validating": N_("Checking the backup"),
    "restoring": N_("Restoring data…"),
    "checking": N_("Checking the restored copy"),
    "swapping": N_("Putting the restored copy in place"),
    "done": _DONE,
}

WORDINGS = {
    "restore": KindWording(
        heading=N_("Restore progress"), title=N_("Restore"), title_of=N_("{source} into {target}"),
        stages=RESTORE_STAGES,
        succeeded=N_("Restore succeeded"), failed=N_("Restore failed"), cancelled=N_("Restore cancelled"),
        body=N_("{source} was restored into {target} in {duration}."),
        unchanged=N_("The live database was not changed."),
        cancel=N_("Cancel the restore"),
        cancel_confirm=N_("Cancel this restore? The live database stays as it is."),
        notify_on=N_("This browser will tell you when the restore ends."),
        note_succeeded=N_("The restore of %(source)s into %(target)s succeeded."),
        note_failed=N_("The restore of %(source)s into %(target)s failed; the live database was not changed."),
        note_cancelled=N_("The restore of %(source)s into %(target)s was cancelled; the live database was not "
                          "changed."),
        mail_succeeded=N_("Restore finished: %(source)s into %(target)s"),
        mail_failed=N_("Restore failed: %(source)s into %(target)s"),
        mail_cancelled=N_("Restore cancelled: %(source)s into %(target)s"),
        mail_body=N_("The restore of %(source)s into %(target)s succeeded."),
        after="another",
        mail_kept=N_("The previous database was kept as %(name)s."),
        lost=N_("The connection to the server was lost. The restore goes on in the background: "
                "you will find it, and how it ended, on the operations page."),
        signin_again=N_("Sign in again to see how the restore ended."),
        forbidden=N_("You are not allowed to see this restore."),
        not_found=N_("This restore does not exist (any more)."),
    ),
    # A restore into a new database: nothing is replaced.
    "create": KindWording(
        heading=N_("New database progress"), title=N_("New database"), title_of=N_("{database} from {source}"),
        stages={
            "queued": _QUEUED,
            "validating": N_("Checking the backup"),
            "restoring": N_("Loading the backup into a scratch copy…"),
            "checking": N_("Checking the new database"),
            "swapping": N_("Giving the new database its name"),
            "done": _DONE,
        },
        succeeded=N_("Database created"), failed=N_("Database not created"), cancelled=N_("Creation cancelled"),
        body=N_("{database} was created from {source} in {duration}."),
        unchanged=N_("No database was created; no database was changed."),
        cancel=N_("Cancel"),
        cancel_confirm=N_("Cancel the creation of this database? No database is changed."),
        notify_on=N_("This browser will tell you when the database is created."),
        note_succeeded=N_("The database %(database)s was created from %(source)s."),
        note_failed=N_("The database %(database)s could not be created from %(source)s; no database was changed."),
        note_cancelled=N_("The creation of the database %(database)s was cancelled; no database was changed."),
        mail_succeeded=N_("Database created: %(database)s from %(source)s"),
        mail_failed=N_("Database not created: %(database)s from %(source)s"),
        mail_cancelled=N_("Creation cancelled: %(database)s from %(source)s"),
        mail_body=N_("The database %(database)s was created from %(source)s."),
        after="databases",
    ),
    "backup": KindWording(
        heading=N_("Backup progress"), title=N_("Backup"), title_of=N_("Backup of {target}"),
        stages={"queued": _QUEUED, "backing_up": N_("Backing up"), "done": _DONE},
        succeeded=N_("Backup stored"), failed=N_("Backup failed"), cancelled=N_("Backup cancelled"),
        body="", unchanged=N_("Nothing was stored."),
        cancel=N_("Cancel"), cancel_confirm=N_("Cancel this backup? Nothing will be stored."),
        notify_on=N_("This browser will tell you when the backup ends."),
        note_succeeded=N_("The backup of %(target)s succeeded."),
        note_failed=N_("The backup of %(target)s failed; nothing was stored."),
        note_cancelled=N_("The backup of %(target)s was cancelled; nothing was stored."),
        mail_succeeded=N_("Backup finished: %(target)s"),
        mail_failed=N_("Backup failed: %(target)s"),
        mail_cancelled=N_("Backup cancelled: %(target)s"),
        mail_body=N_("The backup of %(target)s succeeded."),
        after="backups",
    ),
    "verify": KindWording(
        heading=N_("Verification progress"), title=N_("Verification"), title_of=N_("Verification of {source}"),
        stages={
            "queued": _QUEUED,
            "validating": N_("Reading the stored file and checking its checksum"),
            "restoring": N_("Test-restoring into a scratch copy…"),
            "checking": N_("Comparing the tables and rows with the catalog"),
            "done": _DONE,
        },
        succeeded=N_("Verification passed"), failed=N_("Verification failed"),
        cancelled=N_("Verification cancelled"),
        body="", unchanged=N_("No database was replaced; the backup itself was not changed."),
        cancel=N_("Cancel"), cancel_confirm=N_("Cancel this verification? The backup stays as it is."),
        notify_on=N_("This browser will tell you when the verification ends."),
        note_succeeded=N_("The verification of %(source)s passed."),
        note_failed=N_("The verification of %(source)s failed."),
        note_cancelled=N_("The verification of %(source)s was cancelled."),
        mail_succeeded=N_("Verification passed: %(source)s"),
        mail_failed=N_("Verification failed: %(source)s"),
        mail_cancelled=N_("Verification cancelled: %(source)s"),
        mail_body="",
        after="backups",
    ),
    "duplicate": KindWording(
        heading=N_("Copy progress"), title=N_("Copy of a database"), title_of=N_("Copy of {source}"),
        stages={"queued": _QUEUED, "validating": N_("Getting ready"), "copying": N_("Copying the database"),
                "done": _DONE},
        succeeded=N_("Copy made"), failed=N_("Copy failed"), cancelled=N_("Copy cancelled"),
        body="", unchanged=N_("No database was changed; no copy was left behind."),
        cancel=N_("Cancel"), cancel_confirm=N_("Cancel this copy? The database being copied stays as it is."),
        notify_on=N_("This browser will tell you when the copy ends."),
        note_succeeded=N_("The copy of %(source)s as %(database)s was made."),
        note_failed=N_("The copy of %(source)s failed; no database was changed."),
        note_cancelled=N_("The copy of %(source)s was cancelled; no database was changed."),
        mail_succeeded=N_("Copy made: %(source)s as %(database)s"),
        mail_failed=N_("Copy failed: %(source)s"),
        mail_cancelled=N_("Copy cancelled: %(source)s"),
        mail_body="",
        after="databases",
    ),
    "drop": KindWording(
        heading=N_("Drop progress"), title=N_("Drop of a database"), title_of=N_("Drop of {source}"),
        stages={"queued": _QUEUED, "validating": N_("Getting ready"),
                "backing_up": N_("Backing up the database before it is dropped"),
                "dropping": N_("Dropping the database"), "done": _DONE},
        succeeded=N_("Database dropped"), failed=N_("Drop failed"), cancelled=N_("Drop cancelled"),
        body="", unchanged=N_("The database was not dropped."),
        cancel=N_("Cancel"), cancel_confirm=N_("Cancel this drop? The database stays as it is."),
        notify_on=N_("This browser will tell you when the drop ends."),
        note_succeeded=N_("The database %(source)s was dropped."),
        note_failed=N_("The drop of %(source)s failed; the database was not dropped."),
        note_cancelled=N_("The drop of %(source)s was cancelled; the database was not dropped."),
        mail_succeeded=N_("Database dropped: %(source)s"),
        mail_failed=N_("Drop failed: %(source)s"),
        mail_cancelled=N_("Drop cancelled: %(source)s"),
        mail_body="",
        after="databases",
    ),
    # Undoing a restore: the pre-restore copy (source) goes back in place of the target's database.
    "undo": KindWording(
        heading=N_("Undo progress"), title=N_("Undo of a restore"), title_of=N_("{source} back in place of {target}"),
        stages={"queued": _QUEUED, "validating": N_("Getting ready"),
                "swapping": N_("Putting the earlier database back in place"), "done": _DONE},
        succeeded=N_("Restore undone"), failed=N_("Undo failed"), cancelled=N_("Undo cancelled"),
        body="", unchanged=N_("The live database was not changed."),
        cancel=N_("Cancel"), cancel_confirm=N_("Cancel this undo? The live database stays as it is."),
        notify_on=N_("This browser will tell you when the undo ends."),
        note_succeeded=N_("%(source)s is back in place of %(target)s."),
        note_failed=N_("Putting %(source)s back in place of %(target)s failed; the live database was not changed."),
        note_cancelled=N_("Putting %(source)s back in place of %(target)s was cancelled; the live database was not "
                          "changed."),
        mail_succeeded=N_("Restore undone: %(source)s back in place of %(target)s"),
        mail_failed=N_("Undo failed: %(target)s"),
        mail_cancelled=N_("Undo cancelled: %(target)s"),
        mail_body="",
        after="databases",
    ),
}

# The fields the page's scripts read (the rest is the server's).
PAGE_FIELDS = ("heading", "title", "title_of", "succeeded", "failed", "cancelled", "body", "unchanged", "cancel",
               "cancel_confirm", "notify_on", "lost", "signin_again", "forbidden", "not_found", "after")


def key_of(kind: str, database: str = "") -> str:
    """The row of an operation of ``kind``; a restore into a new database is "create"."""
    if kind == "restore" and database:
        return "create"
    return kind if kind in WORDINGS else "restore"


def wording_of(operation) -> KindWording:
    return WORDINGS[key_of(operation.kind, operation.database)]


def names(operation, target: str = "") -> dict:
    """The names the sentences speak of: the source, the target (as the user
    chose it, given by the caller, else its display), and the database made
    or acted on."""
    request = (operation.result or {}).get("request") or {}
    database = operation.database or request.get("name") or request.get("database") or ""
    return {"source": operation.source_name, "target": target or operation.target_display, "database": database}


def page_wordings(translate) -> dict:
    """Every row as the page's scripts read it, translated with ``translate``
    (gettext in the active language)."""
    rows = {}
    for key, w in WORDINGS.items():
        row = {name: translate(getattr(w, name)) if getattr(w, name) and name != "after" else getattr(w, name)
               for name in PAGE_FIELDS}
        row["stages"] = {stage: translate(text) for stage, text in w.stages.items()}
        rows[key] = row
    return rows


def _sentence(template: str, values: dict) -> str:
    from django.utils.translation import gettext

    return gettext(template) % values


def note_sentence(operation, outcome: str, target: str = "") -> str:
    """The in-app notification of how ``operation`` ended, in the active language."""
    w = wording_of(operation)
    template = {"succeeded": w.note_succeeded, "cancelled": w.note_cancelled}.get(outcome, w.note_failed)
    return _sentence(template, names(operation, target))


def mail(operation) -> tuple[str, str]:
    """The e-mail telling how ``operation`` ended: subject and body in the active language."""
    from ..messages import render_stored

    w, values = wording_of(operation), names(operation)
    status = operation.status
    if status == "succeeded":
        subject = _sentence(w.mail_succeeded, values)
        lines = [_sentence(w.mail_body, values) if w.mail_body
                 else render_stored(operation.message_data, operation.message)]
        kept = (operation.result or {}).get("prerestore")
        if kept and w.mail_kept:
            lines.append(_sentence(w.mail_kept, {"name": kept}))
    else:
        subject = _sentence(w.mail_cancelled if status == "cancelled" else w.mail_failed, values)
        # How it ended: its error, else its last message; then what it left as it was.
        if operation.error_message:
            ending = render_stored(operation.error_data, operation.error_message)
        else:
            ending = render_stored(operation.message_data, operation.message)
        unchanged = _sentence(w.unchanged, {})
        lines = [ending] + ([unchanged] if unchanged not in ending else [])
    lines.append(_sentence(N_("Operation: %(id)s"), {"id": operation.id}))
    return subject, "\n\n".join(lines) + "\n"
