"""The tus 1.0.0 resumable upload server: core protocol plus the creation,
termination, checksum and expiration extensions.

- ``OPTIONS api/uploads/``: what the server supports (no sign-in needed).
- ``POST api/uploads/`` with ``Upload-Length`` (and ``Upload-Metadata``,
  ``filename`` being the file's name): 201 and ``Location`` of the upload.
- ``HEAD api/uploads/<id>``: ``Upload-Offset``, how much has arrived.
- ``PATCH api/uploads/<id>`` with ``Upload-Offset`` and a body of type
  ``application/offset+octet-stream`` (optionally ``Upload-Checksum: sha256 <base64>``;
  sha1 and md5 work too): appends the chunk, 204 with the new ``Upload-Offset``.
- ``DELETE api/uploads/<id>``: cancels the upload and deletes what arrived.
- ``GET api/uploads/<id>/result``: JSON of the upload and its outcome.

When the last chunk arrives the file is recognised and stored as a backup
before the PATCH answers. Every answer about an upload carries
``Dbkeeper-Upload-Status`` (receiving, completing, stored, rejected, failed),
``Dbkeeper-Result-Url`` and, once stored, ``Dbkeeper-Backup-Id``; the result
JSON has the backup (format, size, sha256…) or the sentence saying why the
file was rejected. A last PATCH whose file is not kept (rejected, or it could
not be stored) answers 422 with that sentence as its JSON error, so that any
tus client reports the failure and does not retry it; so does the POST of
an empty file (``Upload-Length: 0``), complete and refused at once.

Errors are JSON ``{"error": {"code", "message"}}``: 400 bad header, 401 not
signed in, 403 not staff or CSRF, 404 unknown upload (or another user's),
409 wrong offset, 410 finished or expired, 412 unsupported tus version,
413 too large, 415 wrong content type, 423 another request is writing,
460 checksum mismatch, 507 disk full (what arrived is kept).

Authentication: the browser's session (state-changing requests need the
``X-CSRFToken`` header), or a personal API token in ``Authorization: Bearer``.
Only staff may upload; each user sees only their own uploads.
"""

import base64
import binascii
import functools
import logging

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.utils.http import http_date
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from .. import conf
from ..access.api_tokens import authenticate_bearer, bearer_credential
from ..access.http import json_error, unauthorized
from ..messages import Message, N_, render_stored
from . import partial, service
from .models import Upload
from .service import UploadError

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,checksum,expiration"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
# A client that stops sending mid-chunk must not hold the upload's lock for
# long: the body read gives up after this many seconds of silence.
BODY_READ_TIMEOUT = 60
MAX_METADATA_LENGTH = 4096
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def tus_endpoint(view):
    """OPTIONS, authentication, CSRF for sessions, the tus version check,
    and UploadError as JSON, around a tus view called as view(request, user, ...)."""

    @login_not_required  # never a redirect to the login page: 401 JSON below
    @csrf_exempt  # checked below for session requests; a bearer token needs none
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method == "OPTIONS":
            return options_response()
        user, refusal = authenticate(request)
        if refusal is not None:
            return with_tus(refusal)
        if request.method != "GET" and request.META.get("HTTP_TUS_RESUMABLE") != TUS_VERSION:
            response = json_error(412, "tus_version", _("This server speaks tus %(version)s: send the header Tus-Resumable: %(version)s.") % {"version": TUS_VERSION})
            response["Tus-Version"] = TUS_VERSION
            return with_tus(response)
        try:
            response = view(request, user, *args, **kwargs)
        except UploadError as exc:
            response = error_response(exc)
        return with_tus(response)

    return wrapper


def authenticate(request):
    """(user, None) for a staff user allowed to go on, else (None, the refusal)."""
    if bearer_credential(request) is not None:
        user, via = authenticate_bearer(request), "token"
        if user is None:
            return None, unauthorized(
                _("This API token is not valid: it is unknown, revoked, or its user is inactive. "
                  "Create a new one with 'dbkeeper token create USERNAME'."), code="invalid_token", scheme="Bearer")
    else:
        user, via = getattr(request, "user", None), "session"
        if user is None or not user.is_authenticated:
            return None, unauthorized(
                _("You are not signed in (or your session expired). Sign in again, or send a personal "
                  "API token in the Authorization header."), scheme="Bearer")
    from ..access import permissions

    if not permissions.has_perm_anywhere(user, "restore"):
        # An upload is a backup to restore: it needs the restore permission on some target.
        return None, json_error(403, "forbidden", permissions.refusal("restore").render())
    if via == "session" and request.method not in SAFE_METHODS and csrf_refused(request):
        return None, json_error(403, "csrf_failed", _("The request was refused because its CSRF token is missing or "
                                  "wrong. Reload the page and try again."))
    log.debug("%s %s by %s (%s)", request.method, request.path, user.get_username(), via)
    return user, None


def _csrf_checked_view(request):  # stands for our views in Django's CSRF check
    return None


def csrf_refused(request) -> bool:
    return CsrfViewMiddleware(_csrf_checked_view).process_view(request, _csrf_checked_view, (), {}) is not None


def with_tus(response):
    response["Tus-Resumable"] = TUS_VERSION
    response["Cache-Control"] = "no-store"  # offsets and results change from one request to the next
    return response


def options_response():
    response = HttpResponse(status=204)
    response["Tus-Version"] = TUS_VERSION
    response["Tus-Extension"] = TUS_EXTENSIONS
    response["Tus-Max-Size"] = str(conf.get("MAX_UPLOAD_SIZE"))
    response["Tus-Checksum-Algorithm"] = ",".join(partial.CHECKSUM_ALGORITHMS)
    return with_tus(response)


def error_response(exc: UploadError):
    response = json_error(exc.status, exc.code, exc.render(), **exc.extra)
    if exc.status == 460:
        response.reason_phrase = "Checksum Mismatch"
    return response


def bad_header(message):
    return UploadError(message, "bad_request", 400)


def header_int(request, name):
    key = name.upper().replace("-", "_")
    value = request.META.get(key if key == "CONTENT_LENGTH" else "HTTP_" + key)
    if value is None:
        raise bad_header(Message(N_("The %(name)s header is missing."), {"name": name}))
    if not value.strip().isdigit():
        raise bad_header(Message(N_("The %(name)s header must be a whole number of bytes, not %(value)s."), {"name": name, "value": repr(value[:40])}))
    return int(value)


def parse_metadata(header):
    """tus Upload-Metadata: comma-separated "key base64value" pairs."""
    if len(header) > MAX_METADATA_LENGTH:
        raise bad_header(Message(N_("The Upload-Metadata header is longer than %(limit)s characters."), {"limit": MAX_METADATA_LENGTH}))
    metadata = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _sep, value = pair.partition(" ")
        if not key or " " in value.strip() or key in metadata:
            raise bad_header(N_("The Upload-Metadata header is malformed: use comma-separated 'key base64value' pairs."))
        try:
            metadata[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise bad_header(Message(N_("The Upload-Metadata value of %(key)s is not base64-encoded UTF-8."), {"key": repr(key)})) from None
    return metadata


def encode_metadata(metadata):
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" if v else k for k, v in metadata.items())


def parse_checksum(header):
    algorithm, _sep, value = header.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in partial.CHECKSUM_ALGORITHMS:
        raise bad_header(Message(N_("The checksum algorithm %(algorithm)s is not supported; use one of %(supported)s."),
                                 {"algorithm": repr(algorithm[:20]), "supported": list(partial.CHECKSUM_ALGORITHMS)}))
    try:
        return algorithm, base64.b64decode(value.strip(), validate=True)
    except binascii.Error:
        raise bad_header(N_("The Upload-Checksum value is not base64.")) from None


def outcome_headers(response, upload):
    response["Dbkeeper-Upload-Status"] = upload.status
    response["Dbkeeper-Result-Url"] = reverse("dbkeeper:upload_result", args=[upload.id])
    if upload.backup_id:
        response["Dbkeeper-Backup-Id"] = upload.backup_id
    if upload.status == Upload.Status.RECEIVING:
        response["Upload-Expires"] = http_date(upload.expires_at.timestamp())
    return response


@tus_endpoint
def uploads(request, user):
    if request.method != "POST":
        return method_not_allowed("POST, OPTIONS")
    if "HTTP_UPLOAD_DEFER_LENGTH" in request.META:
        raise bad_header(N_("Uploads of unknown length are not supported: send Upload-Length."))
    length = header_int(request, "Upload-Length")
    metadata = parse_metadata(request.META.get("HTTP_UPLOAD_METADATA", ""))
    upload = service.create(user, length, metadata)
    if upload.status in (Upload.Status.REJECTED, Upload.Status.FAILED):
        # An empty file is complete, and refused, as soon as it is announced:
        # answered as the last PATCH of any other refused file is.
        response = json_error(422, upload.error_code or upload.status,
                              render_stored(upload.error_data, upload.error_message))
        return outcome_headers(response, upload)
    response = HttpResponse(status=201)
    response["Location"] = reverse("dbkeeper:tus_upload", args=[upload.id])
    response["Upload-Offset"] = str(upload.offset)
    return outcome_headers(response, upload)


@tus_endpoint
def upload(request, user, upload_id):
    if request.method == "HEAD":
        return head(request, user, upload_id)
    if request.method == "PATCH":
        return patch(request, user, upload_id)
    if request.method == "DELETE":
        service.terminate(service.find(upload_id, user), user)
        return HttpResponse(status=204)
    return method_not_allowed("HEAD, PATCH, DELETE, OPTIONS")


def head(request, user, upload_id):
    upload = service.find(upload_id, user)
    if upload.expired():
        raise UploadError(N_("This upload expired before it was finished; start a new upload."), "upload_expired", 410)
    response = HttpResponse(status=200)
    done = upload.status != Upload.Status.RECEIVING
    # A finished upload is complete as far as the protocol goes; its outcome is in the result.
    response["Upload-Offset"] = str(upload.length if done else upload.offset)
    response["Upload-Length"] = str(upload.length)
    if upload.metadata:
        response["Upload-Metadata"] = encode_metadata(upload.metadata)
    return outcome_headers(response, upload)


def patch(request, user, upload_id):
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != OFFSET_CONTENT_TYPE:
        raise UploadError(Message(N_("Send chunks with Content-Type: %(type)s."), {"type": OFFSET_CONTENT_TYPE}), "unsupported_media_type", 415)
    start = header_int(request, "Upload-Offset")
    if not request.META.get("CONTENT_LENGTH", "").strip():
        raise UploadError(N_("Send each chunk with a Content-Length header."), "length_required", 411)
    length = header_int(request, "Content-Length")
    checksum = parse_checksum(request.META["HTTP_UPLOAD_CHECKSUM"]) if "HTTP_UPLOAD_CHECKSUM" in request.META else None
    sock = request.META.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(BODY_READ_TIMEOUT)  # gunicorn resets it for the next request
    # The body is read from the request stream in pieces, never as a whole.
    upload = service.receive(upload_id, user, start, request, length, checksum)
    if upload.status in (Upload.Status.REJECTED, Upload.Status.FAILED):
        # The last chunk arrived but nothing was kept: a 4xx that tus clients
        # neither take for success nor retry (they retry 5xx, 409 and 423).
        response = json_error(422, upload.error_code or upload.status,
                              render_stored(upload.error_data, upload.error_message))
    else:
        response = HttpResponse(status=204)
    response["Upload-Offset"] = str(upload.offset)
    return outcome_headers(response, upload)


@tus_endpoint
def upload_result(request, user, upload_id):
    if request.method != "GET":
        return method_not_allowed("GET")
    upload = service.find(upload_id, user)
    data = upload.as_dict()
    if upload.expired():
        data["status"] = "expired"
    if data.get("error"):
        # Stored as Message data when the upload finished; shown in the reader's language.
        data["error"]["message"] = render_stored(upload.error_data, upload.error_message)
    return outcome_headers(JsonResponse(data), upload)


def method_not_allowed(allow):
    response = json_error(405, "method_not_allowed", _("This address accepts %(methods)s.") % {"methods": allow})
    response["Allow"] = allow
    return response
