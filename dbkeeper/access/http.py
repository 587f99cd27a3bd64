"""JSON answers for dbkeeper's APIs: every error is JSON with a code and a
sentence, and an unauthenticated request gets 401, never a redirect to the
login page."""

from django.http import JsonResponse


def json_error(status, code, message, **extra):
    return JsonResponse({"error": {"code": code, "message": str(message)}, **extra}, status=status)


def unauthorized(message, code="session_expired", realm="dbkeeper", scheme="Session", **extra):
    """401 with ``session_expired`` (the page uses it to tell the user to sign
    in again) and a WWW-Authenticate header, as HTTP wants for a 401."""
    response = json_error(401, code, message, session_expired=True, **extra)
    response["WWW-Authenticate"] = f'{scheme} realm="{realm}"'
    return response
