"""Every answer under ``{mount}/api/`` is JSON: an address there that matches
no route (a mistyped id, ``..`` in a path) gets a JSON 404, not Django's HTML
page, so a script or the page's own code can always read the answer."""

from django.contrib.auth.decorators import login_not_required
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from ..access.http import json_error
from ..access.middleware import mark_json


@login_not_required
@csrf_exempt
def api_not_found(request, rest=""):
    mark_json(request)
    return json_error(404, "no_such_endpoint", _("There is no API endpoint at this address."))
