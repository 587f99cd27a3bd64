"""The upload page: pick a backup file and send it with the tus client."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

from .. import conf

DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024


def chunk_size(request):
    """8 MiB, or ``?chunk_size=N`` (64 KiB to 64 MiB): smaller chunks lose
    less on a link that keeps dropping."""
    try:
        wanted = int(request.GET.get("chunk_size", DEFAULT_CHUNK_SIZE))
    except ValueError:
        wanted = DEFAULT_CHUNK_SIZE
    return max(64 * 1024, min(wanted, 64 * 1024 * 1024))


@never_cache
@ensure_csrf_cookie  # the client sends it back in X-CSRFToken
@login_required
def new_upload(request):
    from ..access import permissions

    if not permissions.has_perm_anywhere(request.user, "restore"):
        return render(request, "dbkeeper/forbidden.html", {"refusal": permissions.refusal("restore").render()},
                      status=403)
    context = {
        "upload_config": {"endpoint": reverse("dbkeeper:tus"), "chunk_size": chunk_size(request)},
        "max_size": conf.get("MAX_UPLOAD_SIZE"),
    }
    return render(request, "dbkeeper/upload.html", context)
