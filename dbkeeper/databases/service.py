"""The database manager's rules: the one place the page, the API and the CLI go
through. Each action checks, in this order: the target is configured and the
user may manage its databases (and those of the target the database belongs
to, when it is another target's or one of its copies), the database is one
dbkeeper may touch (not ``postgres``, a template, the control database, a
scratch copy), no operation holds it, the name typed to confirm (where
something is destroyed or replaced), then acts. Quick actions (create, rename,
drop a pre-restore copy) run here; long ones (duplicate, drop, undo a restore)
are operations run by the worker (runner.py) and followed on the progress
page.

A database is addressed by a target (the server it lives on, reached with
the target's role) and its name on that server."""

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import conf, targets
from ..access.permissions import require, require_anywhere, visible_targets
from ..audit import service as audit
from ..errors import DbkeeperError, TargetBusy, TargetError
from ..messages import Message, N_, Np_
from ..operations.models import Operation, PreRestoreCopy
from ..targets.postgres import PostgresTarget, is_sibling, sibling_name
from . import pg

log = logging.getLogger(__name__)

Kind = Operation.Kind
ALWAYS_PROTECTED = ("postgres", "template0", "template1")
MAX_NAME = 63
DUPLICATE_MODES = ("template", "stream")
STRATEGIES = ("", "wal_log", "file_copy")


class SessionsOpen(DbkeeperError):
    """Other sessions use the database and the user has not agreed to end
    them: the API answers 409 with their count (``sessions``)."""

    code = "sessions_open"

    def __init__(self, name, count):
        super().__init__(Np_("%(count)s other session is connected to %(name)s. It will be ended: confirm to go on.",
                             "%(count)s other sessions are connected to %(name)s. They will be ended: confirm to go on."),
                         params={"count": count, "name": name})
        self.sessions = count


@dataclass
class Started:
    operation: Operation
    token: str = ""
    warnings: list = field(default_factory=list)


# -- who and where -----------------------------------------------------------

def _require(user, perm, target_name):
    # None: the command line, run on the server by its operator.
    if user is not None:
        require(user, perm, target_name)


def _target(name, user, perm="manage_databases"):
    """The configured target ``name`` (its server), once ``user`` may ``perm`` on it."""
    name = str(name or "").strip()
    if not name:
        raise DbkeeperError(N_("Choose the target whose server holds the database."), code="target_required")
    if name not in targets.configured_targets():
        raise TargetError(N_("There is no target named %(name)s."), code="target_unknown", params={"name": name})
    _require(user, perm, name)
    return targets.resolve(name)


def _pg_target(name, user, perm="manage_databases") -> PostgresTarget:
    target = _target(name, user, perm)
    if target.kind != "postgresql":
        raise DbkeeperError(N_("Only the databases of a PostgreSQL server can be managed here; %(name)s is a %(kind)s "
                               "target."), code="wrong_target_kind", params={"name": name, "kind": target.kind})
    return target


def database_target(server: PostgresTarget, name: str) -> PostgresTarget:
    """The database ``name`` on ``server``'s server, reached with its role."""
    return PostgresTarget(server.url.with_name(name), server.spec, trust=server.trust, owner=server.owner,
                          extensions=server.extensions)


def _check_name(name) -> str:
    name = str(name or "").strip()
    if not name:
        raise DbkeeperError(N_("Give the new database a name."), code="name_required")
    if len(name.encode("utf-8")) > MAX_NAME or "\x00" in name:
        raise DbkeeperError(N_("A database name has at most %(max)s bytes and no NUL character."), code="bad_name",
                            params={"max": MAX_NAME})
    return name


def _is_control(server: PostgresTarget, name: str) -> bool:
    db = settings.DATABASES.get(conf.control_alias()) or {}
    if "postgresql" not in str(db.get("ENGINE", "")) or db.get("NAME") != name:
        return False
    local = {"", "localhost", "127.0.0.1", "::1"}
    host, other = str(db.get("HOST") or ""), server.url.host or ""
    same_host = host == other or (host in local and other in local) or host.startswith("/") or other.startswith("/")
    return same_host and str(db.get("PORT") or "5432") == str(server.url.port or "5432")


def protection(server: PostgresTarget, name: str, facts: dict | None = None) -> Message | None:
    """Why dbkeeper must not change ``name`` (a phrase), or None."""
    if name in ALWAYS_PROTECTED:
        return Message(N_("a database PostgreSQL itself needs"))
    if facts and facts.get("is_template"):
        return Message(N_("a template database"))
    if _is_control(server, name):
        return Message(N_("dbkeeper's own control database"))
    if "__dbk_scratch_" in name:
        return Message(N_("a scratch copy of a running or interrupted operation"))
    return None


def _refuse_protected(server, name, facts, action):
    reason = protection(server, name, facts)
    if reason is not None:
        raise DbkeeperError(N_("%(name)s is %(reason)s: dbkeeper does not %(action)s it."), code="protected",
                            params={"name": name, "reason": reason, "action": action})


def _refuse_busy(db: PostgresTarget):
    busy = Operation.objects.filter(lock_key=db.lock_key()).first()
    if busy is not None:
        raise TargetBusy(N_("%(name)s is busy: %(kind)s %(id)s is %(status)s. Wait for it to end or cancel it, "
                            "then try again."),
                         params={"name": db.name, "kind": busy.kind, "id": busy.id, "status": busy.status})


def _facts(server, name) -> dict:
    with server.admin_connection() as conn:
        found = pg.facts(conn, name)
    if found is None:
        raise DbkeeperError(N_("There is no database %(name)s on the server of %(target)s."), code="not_found",
                            params={"name": name, "target": server.spec})
    return found


def _confirm(name, typed, sentence):
    """The same rule as a restore's confirmation: the exact name, typed."""
    if str(typed or "").strip() != name:
        raise DbkeeperError(sentence, code="not_confirmed", params={"name": name})


def _live_names(server) -> dict:
    """Database name -> configured target name, for the targets on ``server``'s server."""
    found = {}
    for name, spec in targets.configured_targets().items():
        try:
            other = targets.resolve(name)
        except DbkeeperError:
            continue
        if other.kind == "postgresql" and _same_server(other, server):
            found.setdefault(other.name, name)
    return found


def _require_owner(server, database, user, perm="manage_databases"):
    """A database that is a target's own, or one of its scratch or pre-restore
    copies, belongs to that target: reached through another target on the same
    server, it still asks for ``perm`` on its own target."""
    if user is None:
        return
    for live, owner in _live_names(server).items():
        if live == database or is_sibling(live, database):  # its own, or a scratch or copy of it
            _require(user, perm, owner)
    for copy in PreRestoreCopy.objects.filter(name=database, dropped_at__isnull=True):
        _require(user, perm, copy.target_spec)


def _same_server(a, b) -> bool:
    return (a.url.host or "", str(a.url.port or "5432")) == (b.url.host or "", str(b.url.port or "5432"))


def _age(moment) -> int | None:
    return int((timezone.now() - moment).total_seconds()) if moment else None


# -- the list ------------------------------------------------------------------

def listing(user=None) -> dict:
    """Each PostgreSQL server a target the user may see lives on, with its
    databases; the SQLite targets with their file; the targets that could not
    be reached with a sentence."""
    from ..backups.models import Backup

    names = list(targets.configured_targets())
    if user is not None:
        require_anywhere(user, "view")  # someone with no right at all is refused, not shown an empty list
        names = visible_targets(user, names)
    # The targets whose databases the user may manage: the page offers actions only there.
    manageable = set(visible_targets(user, names, perm="manage_databases") if user is not None else names)
    servers, files, errors = {}, [], []
    for name in names:
        try:
            target = targets.resolve(name)
        except DbkeeperError as exc:
            errors.append({"target": name, "error": exc.render()})
            continue
        if target.kind == "sqlite":
            path = target.path
            copies = [_copy_row(c, Path(c.name).stat().st_size if Path(c.name).exists() else None)
                      for c in _copies([name])]
            files.append({"target": name, "path": str(path), "exists": path.exists(), "may_manage": name in manageable,
                          "size": path.stat().st_size if path.exists() else None,
                          "last_backup": _last_backup(Backup, [name], None), "copies": copies})
            continue
        key = (target.url.host or "", str(target.url.port or "5432"))
        servers.setdefault(key, {"targets": [], "first": target})["targets"].append(name)
    answer = []
    for (host, port), entry in servers.items():
        server = entry["first"]
        mine_to_manage = [t for t in entry["targets"] if t in manageable]
        row = {"server": f"{host or 'localhost'}:{port}", "target": entry["targets"][0], "targets": entry["targets"],
               "manageable": mine_to_manage, "databases": [], "error": ""}
        try:
            with server.admin_connection() as conn:
                facts = pg.databases(conn)
        except DbkeeperError as exc:
            row["error"] = exc.render()
            answer.append(row)
            continue
        sizes = {f["name"]: f["size"] for f in facts}
        every = _live_names(server)
        live = {n: t for n, t in every.items() if t in entry["targets"]}
        copies = list(_copies(entry["targets"]))
        # A copy is shown with the database it was taken from; the databases
        # (and copies) of targets the user may not see are not shown at all.
        hidden = set(PreRestoreCopy.objects.filter(dropped_at__isnull=True).values_list("name", flat=True))
        others = {n for n, t in every.items() if t not in entry["targets"]}
        hidden |= others
        for f in facts:
            # A scratch or pre-restore copy of another target's database is that target's too.
            if f["name"] in hidden or any(is_sibling(live, f["name"]) for live in others):
                continue
            reason = protection(server, f["name"], f)
            owner_target = live.get(f["name"], "")
            mine = [c for c in copies if c.target_spec == owner_target] if owner_target else []
            # The target an action on it goes through: its own, else one the user may manage on this server.
            via = owner_target or (mine_to_manage[0] if mine_to_manage else "")
            row["databases"].append({
                **f, "target": owner_target, "via": via, "may_manage": bool(via) and via in manageable,
                "read_only": reason is not None,
                "read_only_reason": reason.render() if reason is not None else "",
                "last_backup": None if reason else _last_backup(Backup, entry["targets"], f["name"]),
                "copies": [_copy_row(c, sizes.get(c.name)) for c in mine],
            })
        answer.append(row)
    return {"servers": answer, "sqlite": files, "errors": errors}


def _copies(target_names):
    return PreRestoreCopy.objects.filter(dropped_at__isnull=True, target_spec__in=list(target_names))


def _copy_row(copy, size) -> dict:
    return {"id": copy.pk, "name": copy.name, "target": copy.target_spec, "created_at": copy.created_at.isoformat(),
            "age_seconds": _age(copy.created_at), "size": size, "operation": copy.operation_id or ""}


def _last_backup(Backup, target_names, database) -> dict | None:
    rows = Backup.objects.filter(target_spec__in=list(target_names))
    if database is not None:
        rows = rows.filter(database=database)
    backup = rows.order_by("-created_at").first()
    if backup is None:
        return None
    return {"id": backup.id, "name": backup.name, "created_at": backup.created_at.isoformat(),
            "age_seconds": _age(backup.created_at), "size": backup.size}


def sessions(target, database, user=None) -> dict:
    """The database's facts with the number of other sessions: what the page
    shows before an action that ends them is confirmed."""
    server = _pg_target(target, user, "view")
    database = str(database or "").strip()
    _require_owner(server, database, user, "view")
    facts = _facts(server, database)
    reason = protection(server, facts["name"], facts)
    return {**facts, "target": server.spec, "read_only": reason is not None,
            "read_only_reason": reason.render() if reason is not None else ""}


# -- quick actions -------------------------------------------------------------

def create_database(target, name, owner="", encoding="", locale="", user=None) -> dict:
    """Create an empty database (from template0) with the owner, encoding and locale given."""
    server = _pg_target(target, user)
    name = _check_name(name)
    _require_owner(server, name, user)  # another target's name: refused, not "it exists"
    owner, encoding, locale = (str(v or "").strip() for v in (owner, encoding, locale))
    for value, what in ((owner, "owner"), (encoding, "encoding"), (locale, "locale")):
        if len(value) > 100 or "\x00" in value:
            raise DbkeeperError(N_("The %(field)s is not valid."), code="bad_request", params={"field": what})
    _refuse_protected(server, name, None, Message(N_("create")))
    with server.admin_connection() as conn:
        if pg.exists(conn, name):
            raise DbkeeperError(N_("A database named %(name)s already exists on this server."), code="exists",
                                params={"name": name})
        if owner and conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)).fetchone() is None:
            raise DbkeeperError(N_("There is no role %(role)s on this server."), code="bad_request",
                                params={"role": owner})
        pg.create(conn, name, owner=owner, encoding=encoding, locale=locale)
        facts = pg.facts(conn, name)
    audit.record("database.create", user=user, target=server.spec, database=name, outcome="succeeded",
                 details={"owner": facts["owner"], "encoding": facts["encoding"], "locale": facts["collate"]})
    return facts


def rename_database(target, database, new_name, end_sessions=False, user=None) -> dict:
    """Rename a database (its other sessions ended, once the user agreed:
    SessionsOpen says how many there are). A target's own database, or a
    pre-restore copy, keeps its name: the target (or the copy's record)
    would point at nothing."""
    server = _pg_target(target, user)
    database = str(database or "").strip()
    new_name = _check_name(new_name)
    _require_owner(server, database, user)
    _require_owner(server, new_name, user)
    facts = _facts(server, database)
    _refuse_protected(server, database, facts, Message(N_("rename")))
    _refuse_protected(server, new_name, None, Message(N_("create")))
    owner_target = _live_names(server).get(database)
    if owner_target:
        raise DbkeeperError(N_("%(name)s is the database of the target %(target)s: renamed, the target would point at "
                               "nothing. Change the target first."), code="is_target",
                            params={"name": database, "target": owner_target})
    if PreRestoreCopy.objects.filter(name=database, dropped_at__isnull=True).exists():
        raise DbkeeperError(N_("%(name)s is a pre-restore copy: undo the restore or drop the copy instead."),
                            code="is_copy", params={"name": database})
    _refuse_busy(database_target(server, database))
    with server.admin_connection() as conn:
        if pg.exists(conn, new_name):
            raise DbkeeperError(N_("A database named %(name)s already exists on this server."), code="exists",
                                params={"name": new_name})
        count = pg.sessions(conn, database)
        if count and not end_sessions:
            raise SessionsOpen(database, count)
        pg.rename(conn, database, new_name, end_others=True)
    moved = _move_filestore(database, new_name)
    audit.record("database.rename", user=user, target=server.spec, database=database, outcome="succeeded",
                 details={"new_name": new_name, "sessions_ended": count, "filestore": moved})
    return {"name": new_name, "previous_name": database, "sessions_ended": count, "filestore": moved}


def find_copy(ref, user=None) -> PreRestoreCopy:
    """A pre-restore copy by id or name; with ``user``, one they may manage
    (checked before anyone is asked to confirm)."""
    ref = str(ref or "").strip()
    rows = PreRestoreCopy.objects.filter(dropped_at__isnull=True)
    copy = rows.filter(pk=int(ref)).first() if ref.isdigit() else None
    copy = copy or rows.filter(name=ref).first()
    if copy is None:
        raise DbkeeperError(N_("There is no pre-restore copy named %(name)s."), code="not_found", params={"name": ref})
    _require(user, "manage_databases", copy.target_spec)
    return copy


def drop_copy(ref, confirm, user=None) -> PreRestoreCopy:
    """Drop a pre-restore copy, its name typed to confirm."""
    copy = find_copy(ref)
    _require(user, "manage_databases", copy.target_spec)
    _confirm(copy.name, confirm, N_("To confirm that the pre-restore copy %(name)s will be dropped, type its name "
                                    "exactly."))
    target = targets.resolve(copy.target_spec)
    _refuse_busy(target)
    target.drop_named(copy.name)
    copy.dropped_at = timezone.now()
    copy.save(update_fields=["dropped_at"])
    audit.record("database.drop_copy", user=user, target=audit.target_label(copy.target_spec, copy.target_display),
                 database=copy.name, outcome="succeeded")
    return copy


# -- long actions: operations ---------------------------------------------------

def _record(kind, server, db, request, user, source_name, event, params) -> Operation:
    """The operation holding ``db``'s lock; not queued."""
    waiting = Message(N_("Waiting for a worker."))
    op = Operation(
        kind=kind, stage=Operation.Stage.VALIDATING,
        user_id=str(getattr(user, "pk", "") or ""),
        username=user.get_username() if user is not None else "",
        source_name=source_name, target_spec=server.spec, target_display=db.display(), lock_key=db.lock_key(),
        message=waiting.english(), message_data=waiting.to_json(), result={"request": request},
    )
    try:
        with transaction.atomic(using=Operation.objects.db):
            op.save(force_insert=True)
    except IntegrityError:
        _refuse_busy(db)
        raise TargetBusy(N_("%(name)s is busy. Wait for its operation to end, then try again."),
                         params={"name": db.name}) from None
    op.add_event(event, params=params)
    audit.operation_started(op, user=user, database=db.name)
    return op


def _queue(op, token, language) -> str:
    from ..operations.service import issue_and_queue
    from .runner import finish

    return issue_and_queue(op, token=token, language=language, finish=lambda o, s, **kw: finish(o, s, **kw),
                           queue_down=N_("The action could not be queued: the task queue is not reachable. "
                                         "Nothing was changed."))


def plan_duplicate(target, source, name, mode="template", end_sessions=False, strategy="", user=None):
    """Check a duplicate of ``source`` as ``name``; returns (server, source db, request)."""
    server = _pg_target(target, user)
    source = str(source or "").strip()
    name = _check_name(name)
    mode = str(mode or "template").strip()
    if mode not in DUPLICATE_MODES:
        raise DbkeeperError(N_("A copy is made by %(modes)s, not %(mode)s."), code="bad_request",
                            params={"modes": list(DUPLICATE_MODES), "mode": repr(mode)})
    strategy = str(strategy or "").strip().lower()
    if strategy not in STRATEGIES:
        raise DbkeeperError(N_("The strategy is %(strategies)s, not %(strategy)s."), code="bad_request",
                            params={"strategies": [s for s in STRATEGIES if s], "strategy": repr(strategy)})
    _require_owner(server, source, user)
    _require_owner(server, name, user)
    facts = _facts(server, source)
    if source == "template0" or "__dbk_scratch_" in source or _is_control(server, source):
        _refuse_protected(server, source, facts, Message(N_("copy")))
    _refuse_protected(server, name, None, Message(N_("create")))
    db = database_target(server, source)
    _refuse_busy(db)
    with server.admin_connection() as conn:
        if pg.exists(conn, name):
            raise DbkeeperError(N_("A database named %(name)s already exists on this server: a copy never replaces "
                                   "one."), code="exists", params={"name": name})
        count = pg.sessions(conn, source)
    if mode == "template" and count and not end_sessions:
        raise SessionsOpen(source, count)
    request = {"source": source, "name": name, "mode": mode, "strategy": strategy, "owner": facts["owner"],
               "sessions": count if mode == "template" else 0}
    return server, db, request


def start_duplicate(target, source, name, mode="template", end_sessions=False, strategy="", user=None, language="",
                    token=False) -> Started:
    server, db, request = plan_duplicate(target, source, name, mode, end_sessions, strategy, user)
    op = record_duplicate(server, db, request, user)
    return Started(op, _queue(op, token, language))


def record_duplicate(server, db, request, user=None) -> Operation:
    return _record(Kind.DUPLICATE, server, db, request, user, request["source"],
                   N_("Copy of %(source)s as %(name)s queued."), {"source": request["source"], "name": request["name"]})


def plan_drop(target, database, confirm, safety_backup=True, storage=None, user=None):
    server = _pg_target(target, user)
    database = str(database or "").strip()
    _require_owner(server, database, user)
    facts = _facts(server, database)
    _refuse_protected(server, database, facts, Message(N_("drop")))
    db = database_target(server, database)
    _refuse_busy(db)
    _confirm(database, confirm, N_("To confirm that the database %(name)s will be dropped, type its name exactly."))
    request = {"database": database, "safety_backup": bool(safety_backup), "backup": None}
    if safety_backup:
        from ..backups.service import plan_backup

        # Every rule of a backup (format, storage, encryption keys) is checked now, not in the worker.
        plan = plan_backup(server.spec, storage=storage, origin="before-drop", named_only=True)
        request["backup"] = plan.request.as_json()
    return server, db, request


def start_drop(target, database, confirm, safety_backup=True, storage=None, user=None, language="",
               token=False) -> Started:
    server, db, request = plan_drop(target, database, confirm, safety_backup, storage, user)
    op = record_drop(server, db, request, user)
    return Started(op, _queue(op, token, language))


def plan_create_from_backup(target, name, backup_id="", source_path="", user=None):
    """Check a restore of a stored backup (or, on the command line, of a
    file) into a new database ``name`` on ``target``'s server: a restore in
    every way (the worker, the scratch copy, the checks, the least-privilege
    content, the owner a restore gives), except that it replaces nothing, so
    no confirmation is typed and no pre-restore copy is kept. Returns the
    RestorePlan (operations.service.launch or record it)."""
    from ..operations.service import plan_restore

    server = _pg_target(target, user, "restore")
    _require(user, "manage_databases", server.spec)
    name = _check_name(name)
    _refuse_protected(server, name, None, Message(N_("create")))
    if not str(backup_id or "").strip() and not source_path:
        raise DbkeeperError(N_("Choose the backup to create the database from."), code="backup_required")
    db = database_target(server, name)
    _refuse_busy(db)
    with server.admin_connection() as conn:
        if pg.exists(conn, name):
            raise DbkeeperError(N_("A database named %(name)s already exists on this server: a database created from "
                                   "a backup never replaces one."), code="exists", params={"name": name})
    plan = plan_restore(server.spec, backup_id=backup_id, source_path=source_path, named_only=True)
    plan.target, plan.database, plan.confirmation = targets.on_server(server.spec, name), name, name
    return plan


def backups_to_create_from(user=None, limit=200) -> list:
    """The stored backups a database can be created from (of a format a
    PostgreSQL server takes, made of a target the user may view), newest
    first: what the page's form offers."""
    from .. import engines
    from ..backups.models import Backup

    rows = []
    for backup in Backup.objects.order_by("-created_at")[:limit]:
        engine = engines.by_format(backup.format)
        if engine is None or "postgresql" not in engine.target_kinds:
            continue
        rows.append(backup)
    if user is not None:
        allowed = set(visible_targets(user, sorted({b.target_spec for b in rows})))
        rows = [b for b in rows if b.target_spec in allowed]
    return [{"id": b.id, "name": b.name, "format": b.format, "format_label": b.format_label or b.format,
             "target": b.target_spec, "database": b.database, "created_at": b.created_at.isoformat()} for b in rows]


def start_create_from_backup(target, name, backup_id, user=None, language="", token=False):
    """Check, record and queue the restore of stored backup ``backup_id``
    into the new database ``name`` (the API's and the page's one call):
    operations.service.StartedRestore."""
    from ..operations.service import launch

    return launch(plan_create_from_backup(target, name, backup_id=backup_id, user=user), user=user,
                  language=language, token=token)


def record_drop(server, db, request, user=None) -> Operation:
    return _record(Kind.DROP, server, db, request, user, request["database"],
                   N_("Drop of %(name)s queued."), {"name": request["database"]})


def plan_undo(ref, confirm, user=None):
    """Undo a restore: the pre-restore copy ``ref`` (its id or name) goes back
    in place of the live database, which is kept as a new copy."""
    copy = find_copy(ref)
    _require(user, "manage_databases", copy.target_spec)
    target = targets.resolve(copy.target_spec)
    _refuse_busy(target)
    if target.kind == "postgresql":
        with target.admin_connection() as conn:
            if not pg.exists(conn, copy.name):
                raise DbkeeperError(N_("The pre-restore copy %(name)s is not on the server any more."),
                                    code="not_found", params={"name": copy.name})
    elif not Path(copy.name).exists():
        raise DbkeeperError(N_("The pre-restore copy %(name)s is not on the server any more."), code="not_found",
                            params={"name": copy.name})
    # A database by its name; a SQLite file by its target's name (as a restore confirms it).
    _confirm(undo_confirmation(target, copy), confirm,
             N_("To confirm that %(name)s will be replaced, type its name exactly."))
    return target, copy


def undo_confirmation(target, copy) -> str:
    return target.name if target.kind == "postgresql" else copy.target_spec


def start_undo(ref, confirm, user=None, language="", token=False) -> Started:
    target, copy = plan_undo(ref, confirm, user)
    op = record_undo(target, copy, user)
    return Started(op, _queue(op, token, language))


def record_undo(target, copy, user=None) -> Operation:
    return _record(Kind.UNDO, target, target, {"copy": copy.pk, "copy_name": copy.name}, user, copy.name,
                   N_("Putting %(copy)s back in place of %(name)s queued."), {"copy": copy.name, "name": target.name})


def undo_name(target, operation_id) -> str:
    """A name for the database an undo takes aside, unused on its server."""
    if target.kind != "postgresql":
        return target.prerestore_name(operation_id)
    stamp = timezone.now().strftime("%Y%m%d_%H%M%S")
    short = operation_id.rsplit("_", 1)[-1][:6]
    return sibling_name(target.name, f"prerestore_{stamp}_{short}")


# -- an Odoo database's filestore ---------------------------------------------

def filestore(database) -> Path | None:
    root = conf.get("ODOO_FILESTORE_DIR")
    return Path(root) / database if root else None


def copy_filestore(source, name) -> bool:
    """Copy ``source``'s Odoo filestore as ``name``'s; False when it has none."""
    import shutil

    src, dst = filestore(source), filestore(name)
    if src is None or not src.is_dir():
        return False
    if dst.exists():
        raise DbkeeperError(N_("The filestore folder %(folder)s already exists; nothing was copied."),
                            code="exists", params={"folder": str(dst)})
    partial = dst.with_name(f".{dst.name}.dbk-partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(src, partial, symlinks=True)
    os.replace(partial, dst)
    return True


def _move_filestore(old, new) -> bool:
    src, dst = filestore(old), filestore(new)
    if src is None or not src.is_dir() or dst.exists():
        return False
    os.replace(src, dst)
    return True

