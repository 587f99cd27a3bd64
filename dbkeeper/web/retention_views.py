"""Retention on the web: the preview (``GET api/backups/retention/``), a
prune on demand (``POST api/backups/retention/prune/``), and the Retention
panel of the Backups page, which lists why each backup is kept."""

import logging

from django.http import JsonResponse

from ..backups import pruning
from ..backups.retention import describe, get_zone
from ..errors import DbkeeperError
from .api import _field, _payload
from .decorators import json_api

log = logging.getLogger(__name__)

# The panel shows at most this many backups per policy (the newest).
PANEL_ROWS = 200


def _flag(value) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


@json_api("GET")
def retention_preview(request, credential):
    """What a prune would keep and delete, and why (every target with a policy, or ?target=)."""
    groups = pruning.preview(request.GET.get("target", "").strip() or None, user=credential.user)
    return JsonResponse({"groups": [g.as_dict() for g in groups]})


@json_api("POST")
def retention_prune(request, credential):
    """Prune now: ``{"target": NAME (optional), "dry_run": false}``."""
    data = _payload(request)
    result = pruning.prune(_field(data, "target") or None, dry_run=_flag(data.get("dry_run")), user=credential.user)
    log.info("prune by %s via %s: %d deleted, %d failed%s", credential.username, credential.method,
             len(result.deleted), len(result.failed), " (dry run)" if result.dry_run else "")
    return JsonResponse(result.as_dict(), status=200)


def panel(user, target="") -> dict:
    """The Backups page's Retention panel: per policy, its backups (newest
    first) with keep/delete and the reasons, in the active language."""
    try:
        groups = pruning.preview(target or None, user=user)
    except DbkeeperError as exc:
        return {"error": exc.render(), "groups": []}
    shown = []
    for group in groups:
        zone = get_zone(group.timezone or None)
        rows = [{"id": d.id, "keep": d.keep, "when": d.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                 "reasons": d.reason_texts()} for d in group.decisions[:PANEL_ROWS]]
        kept = sum(1 for d in group.decisions if d.keep)
        shown.append({"target": group.target, "policy": describe(group.policy), "timezone": group.timezone,
                      "kept": kept, "dropped": len(group.decisions) - kept, "rows": rows,
                      "more": max(0, len(group.decisions) - PANEL_ROWS)})
    return {"error": "", "groups": shown}
