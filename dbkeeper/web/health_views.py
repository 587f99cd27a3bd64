"""The dashboard (the page users land on after signing in) and
``GET api/health/``: both show health.service.overview, limited to the
targets the user may view."""

from datetime import datetime

from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import get_language_bidi
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..errors import DbkeeperError
from ..health import charts, service
from .decorators import json_api, staff_page
from .pages import _common
from .strings import size_text


@json_api("GET")
def health_api(request, credential):
    """``?target=NAME`` for one target."""
    return JsonResponse(service.overview(credential.user, target=request.GET.get("target", "").strip()))


def _when(value):
    return datetime.fromisoformat(value) if value else None


def _seconds_text(seconds):
    if seconds is None:
        return ""
    return _("%(seconds)s s") % {"seconds": f"{seconds:.0f}" if seconds >= 10 else f"{seconds:.1f}"}


def card(row: dict, rtl: bool, now) -> dict:
    """What the page shows of one target's health."""
    runs = row["runs"]
    sizes = charts.bars(
        [r["size"] for r in runs],
        [f'{r["created_at"][:16].replace("T", " ")} · {size_text(r["size"])}' for r in runs],
        "sizes", rtl=rtl, label=ngettext("Backup sizes, last %(count)s run", "Backup sizes, last %(count)s runs",
                                          len(runs)) % {"count": len(runs)})
    durations = charts.bars(
        [r["duration_seconds"] for r in runs],
        [f'{r["created_at"][:16].replace("T", " ")} · {_seconds_text(r["duration_seconds"])}' for r in runs],
        "durations", rtl=rtl, label=ngettext("Backup durations, last %(count)s run",
                                              "Backup durations, last %(count)s runs", len(runs)) % {"count": len(runs)})
    days = []
    for day in row["calendar"]:
        if day["kept"]:
            title = _("%(date)s: %(reasons)s") % {"date": day["date"], "reasons": "; ".join(day["reasons"])}
        elif day["backups"]:
            title = _("%(date)s: the next prune deletes it (%(reasons)s)") % {
                "date": day["date"], "reasons": "; ".join(day["reasons"])}
        else:
            title = _("%(date)s: no kept backup") % {"date": day["date"]}
        days.append({**day, "title": title})
    kept_days = sum(1 for d in days if d["kept"])
    last = row["last_backup"]
    verified = row["last_verified"]
    durations_known = [r["duration_seconds"] for r in runs if r["duration_seconds"] is not None]
    return {
        **row,
        "last_backup_at": _when(last["created_at"]) if last else None,
        "last_backup_age": timesince(_when(last["created_at"]), now) if last else "",
        "last_verified_at": _when(verified["verified_at"]) if verified else None,
        "last_verified_age": timesince(_when(verified["verified_at"]), now) if verified else "",
        "next_run_at": _when(row["next_run"]),
        "size_chart": sizes,
        "duration_chart": durations,
        "largest_size": size_text(max([r["size"] for r in runs], default=0)),
        "longest_duration": _seconds_text(max(durations_known)) if durations_known else "",
        "calendar_svg": charts.calendar(days, rtl=rtl, label=ngettext(
            "Kept backups over the last %(count)s day", "Kept backups over the last %(count)s days", len(days))
            % {"count": len(days)}),
        "kept_text": ngettext("Kept backups: %(count)s day of the last %(days)s",
                              "Kept backups: %(count)s days of the last %(days)s", kept_days)
        % {"count": kept_days, "days": len(days)},
        "in_storage_text": ngettext("%(size)s in %(count)s backup", "%(size)s in %(count)s backups", row["backups"])
        % {"size": size_text(row["total_size"]), "count": row["backups"]},
        "first_day": days[0]["date"] if days else "",
        "last_day": days[-1]["date"] if days else "",
    }


@staff_page
def dashboard(request):
    context = _common(request)
    now = timezone.now()
    try:
        data = service.overview(request.user, now=now)
    except DbkeeperError as exc:  # never a 500 for what the overview refuses
        context["error"] = exc.render()
        data = {"health": service.OK, "targets": []}
    rtl = get_language_bidi()
    context.update(overview=data, cards=[card(row, rtl, now) for row in data["targets"]])
    context["urls"].update(health_api=reverse("dbkeeper:api_health"))
    return render(request, "dbkeeper/dashboard.html", context)
