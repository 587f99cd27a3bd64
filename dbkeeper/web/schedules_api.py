"""The schedules API: list and create, read, change and remove one, and a
preview of the next run times. Each view parses the request, calls one
service function and answers JSON."""

from django.http import JsonResponse

from ..schedules import service
from .api import _payload
from .decorators import json_api


def _times(times):
    return [t.isoformat() for t in times]


@json_api("GET", "POST")
def schedules(request, credential):
    if request.method == "GET":
        rows = service.list_schedules(credential.user)
        latest = service.last_runs(rows)
        return JsonResponse({"schedules": [service.as_dict(s, last_run=latest.get(s.id)) for s in rows]})
    schedule = service.create_schedule(_payload(request), user=credential.user)
    return JsonResponse(service.as_dict(schedule), status=201)


@json_api("GET", "PATCH", "DELETE")
def schedule(request, credential, ref):
    if request.method == "GET":
        found = service.get_schedule(ref, credential.user)
        runs = [service.run_dict(r) for r in found.runs.all()[:30]]
        return JsonResponse({**service.as_dict(found), "runs": runs})
    if request.method == "DELETE":
        service.delete_schedule(ref, user=credential.user)
        return JsonResponse({"deleted": True})
    return JsonResponse(service.as_dict(service.update_schedule(ref, _payload(request), user=credential.user)))


@json_api("POST")
def preview(request, credential):
    return JsonResponse({"next_times": _times(service.preview(_payload(request), user=credential.user))})
