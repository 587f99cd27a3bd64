"""A Content-Security-Policy header on every response: the pages load
scripts and styles only from dbkeeper's own static files (they carry no
inline script, handler or style), cannot be framed, and post forms only to
the same origin. The policy is DBKEEPER["CONTENT_SECURITY_POLICY"].

Add ``dbkeeper.access.csp.ContentSecurityPolicyMiddleware`` to MIDDLEWARE.
A response that already has the header (set by the host project, or a view)
keeps it."""

from .. import conf

HEADER = "Content-Security-Policy"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = conf.get("CONTENT_SECURITY_POLICY")
        if policy and HEADER not in response:
            response[HEADER] = policy
        return response
