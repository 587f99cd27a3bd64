"""The upload page: pick a backup file and send it with the tus client."""

from functools import lru_cache
from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseForbidden
from django.template import engines
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

from .. import conf

TEMPLATE = Path(__file__).parent / "templates" / "dbkeeper" / "uploads" / "upload.html"


@lru_cache(maxsize=1)
def page_template():
    # The uploads folder is not an app of its own, so Django's template loaders
    # do not look here: compile the file with the project's own template engine
    # (its tags, filters and {% extends %} then work as anywhere else).
    return engines["django"].from_string(TEMPLATE.read_text(encoding="utf-8"))


@never_cache
@ensure_csrf_cookie  # the client sends it back in X-CSRFToken
@login_required
def new_upload(request):
    if not (request.user.is_staff or request.user.is_superuser):
        return HttpResponseForbidden("Only staff members may upload backups.")
    context = {
        "endpoint": reverse("dbkeeper:tus"),
        "max_size": conf.get("MAX_UPLOAD_SIZE"),
    }
    return HttpResponse(page_template().render(context, request))
