"""Appending to the audit log: ``record()`` is the one way a row is written.

Rows are appended under a lock so that the chain stays linear: SQLite's
IMMEDIATE transaction (the control alias's transaction mode: the write lock
is taken at BEGIN), on PostgreSQL a lock on the table; on any database the
unique row number turns a race that slipped through into a retry.

Every 100 rows, and on the first row a process writes after an hour without
one, the latest row's number and HMAC go to the server log (logger
``dbkeeper.audit.anchor``), after the commit, so that cutting off the newest
rows is found by ``dbkeeper audit verify``."""

import logging
import time

from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone

from ..messages import Message
from . import chain
from .context import acting_user, current_request, current_via, request_fields
from .models import AuditEntry

log = logging.getLogger(__name__)
anchor_log = logging.getLogger("dbkeeper.audit.anchor")

ANCHOR_EVERY_ROWS = 100
ANCHOR_EVERY_SECONDS = 3600
_last_anchor = {"at": None}

LIMITS = {"user_id": 64, "username": 150, "method": 32, "token_prefix": 8, "address": 64, "user_agent": 300,
          "target": 255, "database": 255, "backup": 255, "operation": 40, "outcome": 32, "action": 64}


def record(action, *, user=None, method="", address="", user_agent="", target="", database="", backup="",
           operation="", outcome="", sentence=None, details=None, parent=None, token_prefix="",
           username="", user_id="") -> AuditEntry | None:
    """Append one row. ``user``: a user object (or None); ``username`` and
    ``user_id``: when there is no user object (a failed sign-in, a worker). Method, address and
    user agent default to those of the request being served (context.py),
    and to ``cli`` while a dbkeeper command runs. ``sentence``: a Message (or its JSON).
    ``parent``: the start row (or its number) of a long action's end row.
    A failure to write is logged and never stops the action itself."""
    fields = request_fields(current_request())
    if user is None and not username and not user_id and current_request() is None:
        try:
            user = acting_user()  # a command run as ``--as USERNAME``
        except Exception:  # an unknown --as user: the command itself says so
            user = None
    values = {
        "action": action,
        "user_id": str(getattr(user, "pk", "") or "") if user is not None else user_id,
        "username": (user.get_username() if user is not None and hasattr(user, "get_username") else username) or "",
        "method": method or fields.get("method") or ("" if current_request() is not None else current_via()),
        "token_prefix": token_prefix or (fields.get("token_prefix", "") if not method else ""),
        "address": address or fields.get("address", ""),
        "user_agent": user_agent or fields.get("user_agent", ""),
        "target": target, "database": database, "backup": backup, "operation": operation, "outcome": outcome,
    }
    values = {k: str(v or "")[:LIMITS[k]] for k, v in values.items()}
    values["sentence"] = sentence.to_json() if isinstance(sentence, Message) else sentence
    values["details"] = details or {}
    values["parent"] = getattr(parent, "number", parent)
    try:
        return _append(values)
    except Exception:
        log.exception("could not write the audit row for %s", action)
        return None


def _append(values) -> AuditEntry:
    alias = router.db_for_write(AuditEntry)
    for attempt in range(5):
        try:
            with transaction.atomic(using=alias):
                _lock(alias)
                last = AuditEntry.objects.using(alias).order_by("-number").values_list("number", "hmac").first()
                number, previous = (last[0] + 1, last[1]) if last else (1, "")
                entry = AuditEntry(number=number, at=timezone.now(), **values)
                entry.hmac = chain.compute(previous, entry)
                entry.save(force_insert=True, using=alias)
                transaction.on_commit(lambda: _maybe_anchor(entry), using=alias)
            return entry
        except IntegrityError:
            # Another process took this number between our read and our insert.
            time.sleep(0.05 * (attempt + 1))
    raise RuntimeError("could not append to the audit log: the row number kept being taken")


def _lock(alias):
    connection = connections[alias]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {connection.ops.quote_name(AuditEntry._meta.db_table)} IN EXCLUSIVE MODE")
    # SQLite: the control alias's IMMEDIATE transaction already holds the write lock.


def _maybe_anchor(entry):
    now = time.monotonic()
    due = _last_anchor["at"] is None or now - _last_anchor["at"] >= ANCHOR_EVERY_SECONDS
    if due or entry.number % ANCHOR_EVERY_ROWS == 0:
        write_anchor(entry)


def write_anchor(entry=None):
    """Write the latest row's number and HMAC to the server log."""
    if entry is None:
        entry = AuditEntry.objects.order_by("-number").first()
        if entry is None:
            return
    anchor_log.info(chain.ANCHOR_FORMAT, entry.number, entry.hmac)
    _last_anchor["at"] = time.monotonic()


def start_row(operation_id) -> AuditEntry | None:
    """The row that started the long action ``operation_id``."""
    return AuditEntry.objects.filter(operation=operation_id, parent__isnull=True).exclude(
        action__endswith=".end").order_by("number").first()


def target_label(spec: str, display: str = "") -> str:
    """How a row names a target: its configured name, or the URL without its password."""
    return display if "://" in (spec or "") else (spec or display)


def operation_started(operation, user=None, database="") -> AuditEntry | None:
    """The start row of a long operation; the operation_finished receiver links its end row to it."""
    return record(f"{operation.kind}.start", user=user, target=target_label(operation.target_spec, operation.target_display),
                  database=database or operation.target_display, backup=operation.backup_id or operation.source_name,
                  operation=operation.id, outcome="started",
                  details={"source": operation.source_name, "format": operation.backup_format})
