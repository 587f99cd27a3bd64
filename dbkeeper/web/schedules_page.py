"""The Schedules page: the schedules as JSON for its script, a form that
shows the next run times before saving, and the sentences its script shows."""

from django.conf import settings
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from ..schedules import service
from .api import target_list
from .decorators import staff_page
from .pages import _common


def schedule_strings() -> dict:
    """The script's sentences, translated ({name} is filled in by the script)."""
    return {
        "next_runs": _("Next runs:"),
        "no_next_runs": _("Give a valid cron expression to see the next run times."),
        "paused": _("Paused"),
        "enabled": _("Active"),
        "pause": _("Pause"),
        "resume": _("Resume"),
        "remove": _("Remove"),
        "confirm_remove": _("Remove the schedule {name}? Its backups are kept."),
        "no_schedules": _("No schedule yet: add one above."),
        "last_run": _("Last run: {slot}, {status}"),
        "never_ran": _("Not run yet."),
        "saved": _("The schedule {name} was saved."),
        "target_is": _("Target: {target}"),
        "run_queued": _("queued"),
        "run_running": _("running"),
        "run_succeeded": _("succeeded"),
        "run_failed": _("failed"),
        "run_skipped": _("skipped"),
        "run_missed": _("missed"),
    }


@staff_page
def schedules_page(request):
    context = _common(request)
    rows = service.list_schedules(request.user)
    latest = service.last_runs(rows)
    context.update(
        targets=target_list(request.user, "manage_schedules"), default_zone=settings.TIME_ZONE or "UTC",
        initial=[service.as_dict(s, last_run=latest.get(s.id)) for s in rows],
        schedule_strings=schedule_strings(),
    )
    context["urls"].update(schedules_api=reverse("dbkeeper:api_schedules"),
                           schedules_preview=reverse("dbkeeper:api_schedules_preview"))
    return render(request, "dbkeeper/schedules.html", context)
