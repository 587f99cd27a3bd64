"""Downloading a stored backup: the stored bytes as they are (an encrypted
backup downloads encrypted), streamed from storage in constant memory, with
Content-Length, an ETag (the SHA-256 of the stored bytes) and single byte
ranges, so that a broken download resumes (``curl -C -``)."""

import logging
import re

from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header, http_date

from ..access.http import json_error
from ..backups.downloads import open_download
from ..backups.storage import StorageError
from ..errors import DbkeeperError
from ..messages import N_
from .decorators import json_api

log = logging.getLogger(__name__)

RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
# Storage errors that mean "try again later" rather than "this backup is gone".
UNAVAILABLE = {"storage_unreachable", "storage_credentials", "storage_no_bucket", "storage_error"}


def requested_range(header, size):
    """(start, end) inclusive for a satisfiable single range, "unsatisfiable",
    or None to send the whole file (no header, several ranges, or a header
    that does not parse: HTTP says to ignore those)."""
    if not header:
        return None
    match = RANGE.match(header)
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size - 1)


def download_name(backup) -> str:
    name = backup.name or backup.id
    if backup.encrypted and not name.endswith(".age"):
        name += ".age"
    return name


@json_api("GET", "HEAD")
def download_backup(request, credential, backup_id):
    try:
        download = open_download(credential.user, backup_id)
    except StorageError as exc:
        return storage_failure(exc, backup_id)
    backup, size = download.backup, download.size
    etag = f'"{backup.sha256}"'
    wanted = requested_range(request.headers.get("Range"), size)
    if_range = request.headers.get("If-Range")
    if wanted is not None and if_range is not None and if_range.strip() != etag:
        # The file changed since the first part was fetched (or the client
        # sent a date we cannot vouch for): send it whole.
        wanted = None
    common = {"Accept-Ranges": "bytes", "ETag": etag, "Last-Modified": http_date(backup.created_at.timestamp())}
    if wanted == "unsatisfiable":
        response = json_error(416, "range_not_satisfiable", DbkeeperError(
            N_("The requested byte range is outside the backup, which has %(size)s bytes."), params={"size": size}).render())
        response["Content-Range"] = f"bytes */{size}"
        for key, value in common.items():
            response[key] = value
        return response
    start, end = wanted if wanted else (0, size - 1)
    length = max(0, end - start + 1)
    log.info("download of backup %s (%s) by %s (%s), bytes %s-%s of %s", backup.id, backup.storage_name,
             credential.username, credential.method, start, end, size)
    if request.method == "HEAD" or length == 0:
        response = HttpResponse(b"", status=206 if wanted else 200, content_type="application/octet-stream")
    else:
        try:
            chunks = download.stream(start, end, credential.method)
        except StorageError as exc:
            return storage_failure(exc, backup.id)
        response = StreamingHttpResponse(chunks, status=206 if wanted else 200, content_type="application/octet-stream")
    response["Content-Length"] = str(length)
    if wanted:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Content-Disposition"] = content_disposition_header(True, download_name(backup))
    for key, value in common.items():
        response[key] = value
    return response


def storage_failure(exc, backup_id):
    log.warning("download of backup %s failed: %s", str(backup_id)[:60], exc.message)
    status = 404 if exc.code == "backup_missing" else 503 if exc.code in UNAVAILABLE else 400
    return json_error(status, exc.code, exc.render())
