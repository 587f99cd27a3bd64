"""Runs the database manager's long actions (operation kinds duplicate, drop
and undo) in the worker or the CLI: the same claim, heartbeat, cancel and
ending as a restore (operations/runner.py hands them over here).

- duplicate: the copy is made under a scratch name beside the target's
  database (so that a worker that dies leaves nothing the watchdog does not
  drop), then renamed to the name asked for; an Odoo filestore is copied too;
- drop: a safety backup first (unless the user declined it), then the drop;
- undo: the pre-restore copy is swapped in place of the live database, which
  is kept as a new pre-restore copy (so that the undo can be undone)."""

import logging

from django.utils import timezone

from .. import targets
from ..errors import Cancelled, DbkeeperError
from ..messages import Message, N_, Np_
from ..operations.models import Operation, PreRestoreCopy
from ..operations.progress import Heartbeat, Progress
from ..operations.runner import Wording
from ..operations.runner import finish as runner_finish
from ..streams import human_size
from . import pg, service

log = logging.getLogger(__name__)

Status = Operation.Status
Stage = Operation.Stage
KINDS = (Operation.Kind.DUPLICATE, Operation.Kind.DROP, Operation.Kind.UNDO)

WORDINGS = {
    Operation.Kind.DUPLICATE: Wording(
        finished=N_("The copy is made."),
        succeeded_in=N_("The copy was made in %(seconds)s s."),
        nothing_changed=N_("No database was changed; no copy was left behind."),
    ),
    Operation.Kind.DROP: Wording(
        finished=N_("The database was dropped."),
        succeeded_in=N_("The database was dropped in %(seconds)s s."),
        nothing_changed=N_("The database was not dropped."),
    ),
    Operation.Kind.UNDO: Wording(
        finished=N_("The restore was undone."),
        succeeded_in=N_("The restore was undone in %(seconds)s s."),
        nothing_changed=N_("The live database was not changed."),
    ),
}


def finish(op, status, result=None, error=None, progress=None):
    return runner_finish(op, status, result=result, error=error, progress=progress, wording=WORDINGS[op.kind])


def run_claimed(op: Operation, listener=None) -> Operation:
    """Run an action that ``operations.runner.claim`` moved to running."""
    progress = Progress(op, listener)
    request = (op.result or {}).get("request") or {}
    action = {Operation.Kind.DUPLICATE: duplicate, Operation.Kind.DROP: drop, Operation.Kind.UNDO: undo}[op.kind]
    with Heartbeat(op.id):
        try:
            result = action(op, request, progress)
        except Cancelled as exc:
            finish(op, Status.CANCELLED, error=exc, progress=progress)
        except DbkeeperError as exc:
            finish(op, Status.FAILED, error=exc, progress=progress)
        except Exception as exc:  # a bug: say so plainly, keep the trace in the log
            log.exception("%s %s failed unexpectedly", op.kind, op.id)
            error = DbkeeperError(N_("The action stopped on an unexpected error: %(error)s."), code="internal_error",
                                  params={"error": str(exc)})
            finish(op, Status.FAILED, error=error, progress=progress)
        else:
            finish(op, Status.SUCCEEDED, result={**result, "request": request}, progress=progress)
    return op


def _server(op):
    server = targets.resolve(op.target_spec)
    if server.kind != "postgresql":
        raise DbkeeperError(N_("Only the databases of a PostgreSQL server can be managed here; %(name)s is a %(kind)s "
                               "target."), code="wrong_target_kind", params={"name": op.target_spec, "kind": server.kind})
    return server


def duplicate(op, request, progress) -> dict:
    server = _server(op)
    source, name, mode = request["source"], request["name"], request["mode"]
    scratch = server.scratch(op.id)
    progress.stage(Stage.COPYING, N_("Copying %(source)s as %(name)s."), params={"source": source, "name": name})
    Operation.objects.filter(pk=op.pk).update(scratch_name=scratch.name)
    op.scratch_name = scratch.name
    filestore = False
    try:
        with server.admin_connection() as conn:
            if pg.exists(conn, name):
                raise DbkeeperError(N_("A database named %(name)s already exists on this server: a copy never "
                                       "replaces one."), code="exists", params={"name": name})
            pg.drop(conn, scratch.name)
            if mode == "template":
                ended = pg.sessions(conn, source)
                if ended:
                    progress.event(Np_("Ending %(count)s other session on %(name)s.",
                                       "Ending %(count)s other sessions on %(name)s."),
                                   params={"count": ended, "name": source})
                pg.copy_by_template(conn, source, scratch.name, end_others=True, strategy=request.get("strategy"),
                                    check_cancel=progress.check_cancel)
            else:
                facts = pg.facts(conn, source) or {}
                pg.create(conn, scratch.name, encoding=facts.get("encoding", ""), collate=facts.get("collate", ""),
                          ctype=facts.get("ctype", ""))
        if mode == "stream":
            pg.copy_streamed(server.url, source, scratch.name, check_cancel=progress.check_cancel)
        progress.check_cancel()
        with server.admin_connection() as conn:
            if request.get("owner"):
                pg.give_owner(conn, scratch.name, request["owner"])
            filestore = service.copy_filestore(source, name)
            pg.rename(conn, scratch.name, name, end_others=True)
            size = (pg.facts(conn, name) or {}).get("size")
    except BaseException:
        try:
            with server.admin_connection() as conn:
                pg.drop(conn, scratch.name)
        except Exception:
            log.exception("could not drop the unfinished copy %s", scratch.name)
        if filestore:
            import shutil

            shutil.rmtree(service.filestore(name), ignore_errors=True)
        raise
    Operation.objects.filter(pk=op.pk).update(scratch_name="")
    op.scratch_name = ""
    if filestore:
        progress.event(N_("The Odoo filestore was copied with it."))
    message = Message(N_("%(source)s was copied as %(name)s (%(size)s)."),
                      {"source": source, "name": name, "size": human_size(size or 0)})
    return {"source": source, "name": name, "mode": mode, "size": size, "filestore": filestore,
            "sessions_ended": request.get("sessions", 0), "message": message.to_json()}


def drop(op, request, progress) -> dict:
    server = _server(op)
    database = request["database"]
    db = service.database_target(server, database)
    backup = None
    if request.get("safety_backup"):
        from ..backups.making import BackupRequest, make

        progress.stage(Stage.BACKING_UP, N_("Backing up %(name)s before it is dropped."), params={"name": database})
        backup = make(op, BackupRequest.from_json(request["backup"]), progress, target=db)
        progress.event(N_("Safety backup %(id)s stored (%(size)s)."),
                       params={"id": backup.id, "size": human_size(backup.size)})
    progress.check_cancel()
    progress.stage(Stage.DROPPING, N_("Dropping %(name)s."), params={"name": database})
    with server.admin_connection() as conn:
        pg.drop(conn, database)
    PreRestoreCopy.objects.filter(name=database, target_spec=op.target_spec, dropped_at__isnull=True).update(
        dropped_at=timezone.now())
    if backup is not None:
        message = Message(N_("%(name)s was dropped; its safety backup is %(id)s (%(size)s)."),
                          {"name": database, "id": backup.id, "size": human_size(backup.size)})
    else:
        message = Message(N_("%(name)s was dropped, without a safety backup."), {"name": database})
    return {"database": database, "backup_id": backup.id if backup else "", "backup_size": backup.size if backup else 0,
            "message": message.to_json()}


def undo(op, request, progress) -> dict:
    copy = PreRestoreCopy.objects.filter(pk=request["copy"], dropped_at__isnull=True).first()
    if copy is None:
        raise DbkeeperError(N_("There is no pre-restore copy named %(name)s."), code="not_found",
                            params={"name": request.get("copy_name", "")})
    target = targets.resolve(copy.target_spec)
    progress.stage(Stage.SWAPPING, N_("Putting %(copy)s back in place of %(name)s."),
                   params={"copy": copy.name, "name": target.name})
    progress.check_cancel()
    aside = service.undo_name(target, op.id)
    earlier = type(target)(target.url.with_name(copy.name), target.spec)
    kept = target.swap_in(earlier, aside)
    now = timezone.now()
    PreRestoreCopy.objects.filter(pk=copy.pk).update(dropped_at=now)
    Operation.objects.filter(pk=op.pk).update(prerestore_name=kept or "")
    if kept:
        PreRestoreCopy.objects.create(target_spec=copy.target_spec, target_display=copy.target_display, name=kept,
                                      operation=op)
        progress.event(N_("The database it replaced was kept as %(name)s."), params={"name": kept})
    message = Message(N_("%(copy)s is back in place of %(name)s; the replaced database was kept as %(kept)s."),
                      {"copy": copy.name, "name": target.name, "kept": kept or ""})
    return {"copy": copy.name, "prerestore": kept or "", "target": target.display(), "message": message.to_json()}
