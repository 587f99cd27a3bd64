"""The Databases page and its API: each view parses the request, calls one
function of dbkeeper.databases.service and answers JSON."""

import logging
from functools import wraps

from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from ..access.http import json_error
from ..databases import service
from .api import _field, _payload
from .decorators import error_status, json_api, staff_page
from .strings import _plural

log = logging.getLogger(__name__)


def _flag(data, name, default=False) -> bool:
    if name not in data:
        return default
    value = data.get(name)
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def _started(started):
    op = started.operation
    return JsonResponse({
        "id": op.id, "kind": op.kind, "status": op.status, "token": started.token,
        "status_url": reverse("dbkeeper:operation_status", args=[op.id]),
        "progress_url": reverse("dbkeeper:progress", args=[op.id]),
        "cancel_url": reverse("dbkeeper:api_cancel", args=[op.id]),
    }, status=202)


def _asks_to_end_sessions(view):
    """The view's SessionsOpen is answered 409 with the number of sessions the
    action would end: the page asks, then sends end_sessions."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except service.SessionsOpen as exc:
            return json_error(error_status(exc) if exc.code != "sessions_open" else 409, exc.code, exc.render(),
                              sessions=exc.sessions)

    return wrapper


@json_api("GET", "POST")
def databases(request, credential):
    """GET: every server's databases. POST: create an empty database
    (``target``, ``name``, ``owner``, ``encoding``, ``locale``), or, with
    ``from_backup`` (a stored backup's id), one restored from that backup: a
    restore operation (202, followed with its token)."""
    if request.method == "GET":
        return JsonResponse(service.listing(credential.user))
    data = _payload(request)
    if "from_backup" in data:
        started = service.start_create_from_backup(_field(data, "target"), _field(data, "name"),
                                                   _field(data, "from_backup"), user=credential.user,
                                                   language=get_language(), token=True)
        log.info("database %s from backup %s queued by %s via %s", started.operation.database,
                 started.operation.backup_id, credential.username, credential.method)
        return _started(started)
    facts = service.create_database(_field(data, "target"), _field(data, "name"), owner=_field(data, "owner"),
                                    encoding=_field(data, "encoding"), locale=_field(data, "locale"),
                                    user=credential.user)
    log.info("database %s created by %s via %s", facts["name"], credential.username, credential.method)
    return JsonResponse(facts, status=201)


@json_api("GET")
def database(request, credential, target, database):
    """One database's facts with its other sessions: asked before an action that ends them."""
    return JsonResponse(service.sessions(target, database, user=credential.user))


@json_api("POST")
@_asks_to_end_sessions
def duplicate(request, credential, target, database):
    data = _payload(request)
    started = service.start_duplicate(target, database, _field(data, "name"), mode=_field(data, "mode") or "template",
                                      end_sessions=_flag(data, "end_sessions"), strategy=_field(data, "strategy"),
                                      user=credential.user, language=get_language(), token=True)
    return _started(started)


@json_api("POST")
@_asks_to_end_sessions
def rename(request, credential, target, database):
    data = _payload(request)
    done = service.rename_database(target, database, _field(data, "name"), end_sessions=_flag(data, "end_sessions"),
                                   user=credential.user)
    return JsonResponse(done)


@json_api("POST")
def drop(request, credential, target, database):
    data = _payload(request)
    started = service.start_drop(target, database, _field(data, "confirm"),
                                 safety_backup=_flag(data, "safety_backup", default=True),
                                 storage=_field(data, "storage") or None, user=credential.user,
                                 language=get_language(), token=True)
    return _started(started)


@json_api("POST")
def undo(request, credential, copy_id):
    data = _payload(request)
    return _started(service.start_undo(copy_id, _field(data, "confirm"), user=credential.user,
                                       language=get_language(), token=True))


@json_api("POST")
def drop_copy(request, credential, copy_id):
    data = _payload(request)
    copy = service.drop_copy(copy_id, _field(data, "confirm"), user=credential.user)
    return JsonResponse({"id": copy.pk, "name": copy.name, "dropped": True})


def page_strings() -> dict:
    """The sentences databases.js shows, in the page's language ({name} filled in by the script)."""
    return {
        "size": _("Size"), "owner": _("Owner"), "encoding": _("Encoding"), "sessions": _("Sessions"),
        "last_backup": _("Last backup"), "never_backed_up": _("No backup yet"),
        "age": _("{age} ago"), "copies": _("Pre-restore copies"), "read_only": _("Read-only: {reason}"),
        "target_of": _("Database of the target {target}"), "missing": _("The file does not exist."),
        "duplicate": _("Duplicate"), "rename": _("Rename"), "drop": _("Drop"), "undo": _("Undo the restore"),
        "drop_copy": _("Drop the copy"), "new_name": _("New name"), "go": _("Go"),
        "stream": _("Do not end the other sessions: copy with pg_dump | pg_restore instead (slower)"),
        "end_sessions": _("End them and go on"),
        "sessions_open": _plural("%(count)s other session is connected to %(name)s. It will be ended: confirm to go on.",
                                 "%(count)s other sessions are connected to %(name)s. They will be ended: confirm to "
                                 "go on."),
        "safety_backup": _("Make a safety backup first"),
        "type_name": _("Type {name} to confirm"),
        "working": _("Working…"), "done": _("Done."), "details": _("Details"),
        "no_servers": _("No target is configured yet."),
        "days": _("{n} d"), "hours": _("{n} h"), "minutes": _("{n} min"), "seconds": _("{n} s"),
    }


@staff_page
def databases_page(request):
    from .pages import _common

    context = _common(request)
    context["initial"] = service.listing(request.user)
    # The create forms only for someone who may manage the databases of a target there.
    context["may_create"] = any(s["manageable"] for s in context["initial"]["servers"])
    context["backups"] = service.backups_to_create_from(request.user)
    context["db_strings"] = page_strings()
    context["urls"].update(databases_api=reverse("dbkeeper:api_databases"),
                           databases=reverse("dbkeeper:databases"))
    return render(request, "dbkeeper/databases.html", context)
