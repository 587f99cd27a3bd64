"""A JSON endpoint whose login session is deleted while it runs (a logout in
another tab, ``clearsessions``, a restore of the database that holds the
sessions) must not end as Django's bare 400 ``SessionInterrupted``.

Put ``dbkeeper.access.middleware.SessionGuardMiddleware`` right AFTER
``django.contrib.sessions.middleware.SessionMiddleware`` in MIDDLEWARE: it
sees the response first and, when the session it would save is gone, stops
the save. The view's own JSON answer stands: it ran with the credential that
was valid when the request began, and the next request will be told (401 JSON)
that the session is over."""

import logging

log = logging.getLogger(__name__)

JSON_ENDPOINT_ATTR = "_dbkeeper_json"


def mark_json(request):
    """Views of dbkeeper's JSON API call this so the guard knows them, under any URL prefix."""
    setattr(request, JSON_ENDPOINT_ATTR, True)


class SessionGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if not getattr(request, JSON_ENDPOINT_ATTR, False) or session is None:
            return response
        if not session.modified or not session.session_key or session.exists(session.session_key):
            return response
        # SessionMiddleware would try to update a row that is gone and raise
        # SessionInterrupted (a bare 400): do not save.
        session.modified = False
        log.info("session deleted during %s %s; its changes were not saved", request.method, request.path)
        return response
