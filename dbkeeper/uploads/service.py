"""What can happen to an upload, whatever the protocol around it: created,
receiving chunks, completed into a stored backup (or rejected), terminated,
expired."""

import contextlib
import logging
import os
import shutil
from datetime import timedelta

from django.utils import timezone

from .. import conf
from ..audit import service as audit
from ..backups import store
from ..errors import DbkeeperError
from ..messages import Message, N_
from . import partial
from .models import Upload

log = logging.getLogger(__name__)

# How long PATCH and DELETE wait for another request to release an upload.
LOCK_WAIT_SECONDS = 3


class UploadError(DbkeeperError):
    """A request about an upload that cannot be honoured; ``status`` is the
    HTTP answer, ``extra`` more fields for its JSON (e.g. upload_offset)."""

    status = 400

    def __init__(self, message, code, status, **extra):
        # ``message``: a Message, or a fixed template marked with N_.
        super().__init__(message, code=code)
        self.status = status
        self.extra = extra


def expiry_delta():
    return timedelta(seconds=conf.get("UPLOAD_EXPIRY_SECONDS"))


def create(user, length, metadata) -> Upload:
    max_size = conf.get("MAX_UPLOAD_SIZE")
    if length > max_size:
        raise UploadError(
            Message(N_("The file is %(length)s bytes; this server accepts uploads of at most %(limit)s bytes."), {"length": f"{length:,}", "limit": f"{max_size:,}"}),
            "too_large", 413)
    free = shutil.disk_usage(conf.data_subdir("uploads")).free
    if length > free:
        raise UploadError(
            Message(N_("There is not enough free disk space on the server for this file: it needs %(length)s bytes "
              "and %(free)s are free. Ask an administrator to free some space."), {"length": f"{length:,}", "free": f"{free:,}"}), "disk_full", 507)
    name = metadata.get("filename") or metadata.get("name") or ""
    # Metadata only: keep a plain name, never a path or control characters.
    name = "".join(c for c in os.path.basename(name.replace("\\", "/")) if c.isprintable())[:255]
    now = timezone.now()
    upload = Upload(user_id=str(user.pk), username=user.get_username(), length=length, metadata=metadata,
                    filename=name, created_at=now, updated_at=now, expires_at=now + expiry_delta())
    partial.create(upload.id)
    upload.save(force_insert=True)
    log.info("upload %s created by %s: %s bytes", upload.id, upload.username, length)
    if length == 0:
        # Nothing to send: it is complete now (and an empty file is rejected).
        with partial.locked(upload.id):
            complete(upload, user, None)
    return upload


def find(upload_id, user) -> Upload:
    """The user's upload; another user's is as unknown as a missing one."""
    upload = Upload.objects.filter(pk=upload_id, user_id=str(user.pk)).first()
    if upload is None:
        raise UploadError(N_("There is no such upload (it may have been cancelled or cleaned up)."), "not_found", 404)
    return upload


def check_open(upload):
    """Refuse chunks for an upload that is finished, being stored or expired."""
    if upload.finished:
        raise UploadError(
            Message(N_("This upload is finished (%(status)s); see its result. Start a new upload to send the file again."), {"status": upload.status}),
            "upload_finished", 410)
    if upload.status == Upload.Status.COMPLETING:
        raise UploadError(N_("This upload is complete and being stored; try again in a moment."), "upload_busy", 423)
    if upload.expired():
        raise UploadError(
            N_("This upload expired before it was finished and will be deleted; start a new upload."), "upload_expired", 410)


def receive(upload_id, user, start, stream, length, checksum=None) -> Upload:
    """Append a chunk of ``length`` bytes read from ``stream`` at offset
    ``start``. Raises UploadError for a wrong offset (409), a checksum
    mismatch (460), a full disk (507), a chunk past the declared length
    (413), another request writing (423). Whatever arrived before a dropped
    connection is kept (without a checksum) and the offset says so."""
    with contextlib.ExitStack() as stack:
        fd = enter_lock(stack, upload_id, user)
        # Read under the lock: the offset cannot move until we are done.
        upload = find(upload_id, user)
        check_open(upload)
        if start != reconcile(upload, fd):
            raise UploadError(
                Message(N_("The upload is at byte %(offset)s, not %(start)s; ask for the offset (HEAD) and send from there."), {"offset": f"{upload.offset:,}", "start": f"{start:,}"}),
                "offset_mismatch", 409, upload_offset=upload.offset)
        if start + length > upload.length:
            raise UploadError(
                Message(N_("This chunk would end at byte %(end)s, past the declared length of %(length)s bytes."), {"end": f"{start + length:,}", "length": f"{upload.length:,}"}),
                "too_large", 413)
        running = partial.running_digests.take(upload.id, start, fd)
        try:
            result = partial.append(fd, start, stream, length, checksum=checksum, running=running)
        except OSError:
            partial.running_digests.drop(upload.id)
            raise
        new_offset = start + result.written
        now = timezone.now()
        updated = Upload.objects.filter(pk=upload.id, offset=start, status=Upload.Status.RECEIVING).update(
            offset=new_offset, updated_at=now, expires_at=now + expiry_delta())
        if not updated:
            raise UploadError(N_("This upload was cancelled while the chunk arrived."), "not_found", 404)
        upload.offset, upload.updated_at, upload.expires_at = new_offset, now, now + expiry_delta()
        if result.digest is not None:
            partial.running_digests.put(upload.id, new_offset, result.digest)
        if result.disk_full:
            log.warning("upload %s: disk full at byte %s", upload.id, new_offset)
            raise UploadError(
                Message(N_("The server's disk is full. The first %(offset)s bytes are kept: the upload can resume "
                  "once an administrator frees some space."), {"offset": f"{new_offset:,}"}), "disk_full", 507, upload_offset=new_offset)
        if not result.complete:
            log.info("upload %s: connection ended after %s of %s bytes; kept up to byte %s",
                     upload.id, result.received, length, new_offset)
            raise UploadError(
                Message(N_("The chunk ended after %(received)s of %(length)s bytes; the upload continues from byte %(offset)s."), {"received": f"{result.received:,}", "length": f"{length:,}", "offset": f"{new_offset:,}"}),
                "incomplete_chunk", 400, upload_offset=new_offset)
        if not result.checksum_ok:
            raise UploadError(
                Message(N_("The chunk does not match its %(algorithm)s checksum, so it was discarded; send it again."), {"algorithm": checksum[0]}),
                "checksum_mismatch", 460, upload_offset=new_offset)
        if new_offset == upload.length:
            complete(upload, user, result.digest)
        return upload


def enter_lock(stack, upload_id, user):
    """Take the upload's lock for the rest of ``stack``; the open partial file."""
    try:
        return stack.enter_context(partial.locked(upload_id, wait=LOCK_WAIT_SECONDS))
    except partial.Busy:
        raise UploadError(N_("Another request is still writing to this upload; try again in a moment."), "upload_busy", 423) from None
    except FileNotFoundError:
        # No partial file: finished, expired and cleaned up, or never there.
        check_open(find(upload_id, user))
        raise UploadError(N_("There is no such upload (it may have been cancelled or cleaned up)."), "not_found", 404) from None


def reconcile(upload, fd) -> int:
    """Make the partial file and the recorded offset agree (they differ only
    if a process died mid-chunk): bytes past the offset were never
    acknowledged and are dropped; a file shorter than the offset moves the
    offset back so the client resends."""
    size = os.fstat(fd).st_size
    if size > upload.offset:
        os.ftruncate(fd, upload.offset)
    elif size < upload.offset:
        log.warning("upload %s: partial file has %s bytes, record said %s", upload.id, size, upload.offset)
        Upload.objects.filter(pk=upload.id).update(offset=size)
        upload.offset = size
        partial.running_digests.drop(upload.id)
    return upload.offset


def complete(upload, user, digest):
    """All bytes are in (the caller holds the lock): recognise the file and
    store it as a backup, or reject it. Either way the partial file is gone
    afterwards. ``digest`` is the file's running SHA-256, if this process has it."""
    upload.status = Upload.Status.COMPLETING
    upload.save(update_fields=["status"])
    path = partial.path_for(upload.id)
    partial.running_digests.drop(upload.id)
    try:
        sha256 = digest.hexdigest() if digest is not None else store.sha256_of(path)
        backup = store.add_file(path, upload.filename or "upload", user=user, source="upload", sha256=sha256)
    except DbkeeperError as exc:
        upload.status, upload.error_code = Upload.Status.REJECTED, exc.code
        upload.error_message, upload.error_data = exc.message, exc.sentence.to_json()
        log.info("upload %s rejected: %s", upload.id, exc.message)
    except Exception:
        log.exception("upload %s could not be stored", upload.id)
        upload.status, upload.error_code = Upload.Status.FAILED, "store_failed"
        failed = Message(N_("The file arrived whole but could not be stored as a backup; "
                            "the server log says why. Try again or ask an administrator."))
        upload.error_message, upload.error_data = failed.english(), failed.to_json()
    else:
        upload.status, upload.backup_id = Upload.Status.STORED, backup.id
        log.info("upload %s stored as backup %s", upload.id, backup.id)
        audit.record("upload.store", user=user, backup=backup.id, outcome="ok",
                     details={"upload": upload.id, "name": backup.name, "size": backup.size, "format": backup.format})
    finally:
        path.unlink(missing_ok=True)
    now = timezone.now()
    upload.finished_at = upload.updated_at = now
    upload.expires_at = now + expiry_delta()  # the outcome stays readable this long
    upload.save()
    return upload


def terminate(upload, user):
    """Delete an unfinished upload and what it received."""
    if upload.finished:
        raise UploadError(Message(N_("This upload is finished (%(status)s); there is nothing to cancel."), {"status": upload.status}), "upload_finished", 410)
    if not partial.path_for(upload.id).exists():
        upload.delete()
        return
    with contextlib.ExitStack() as stack:
        enter_lock(stack, upload.id, user)
        upload.refresh_from_db()
        if upload.status != Upload.Status.RECEIVING:
            raise UploadError(N_("This upload is complete and being stored; it can no longer be cancelled."), "upload_busy", 423)
        partial.path_for(upload.id).unlink(missing_ok=True)
        upload.delete()
    partial.running_digests.drop(upload.id)
    log.info("upload %s terminated", upload.id)


def fail_abandoned_completions() -> int:
    """Uploads left "completing" by a web process that died while storing
    them (nobody holds their lock): mark them failed so that their clients
    stop waiting, and delete what was received."""
    count = 0
    for upload in Upload.objects.filter(status=Upload.Status.COMPLETING):
        try:
            with partial.locked(upload.id):
                partial.path_for(upload.id).unlink(missing_ok=True)
        except partial.Busy:
            continue  # still being stored
        except FileNotFoundError:
            pass
        now = timezone.now()
        stopped = Message(N_("The server stopped while it was storing this file, so it was not stored; upload it again."))
        Upload.objects.filter(pk=upload.id, status=Upload.Status.COMPLETING).update(
            status=Upload.Status.FAILED, error_code="store_interrupted", finished_at=now, updated_at=now,
            expires_at=now + expiry_delta(), error_message=stopped.english(), error_data=stopped.to_json())
        log.warning("upload %s: its completion was interrupted; marked failed", upload.id)
        count += 1
    return count


def delete_expired(now=None) -> int:
    """Delete unfinished uploads past their expiry (and their partial files),
    records of finished ones past theirs, and partial files nothing refers
    to. Returns how many uploads went."""
    now = now or timezone.now()
    count = 0
    for upload in Upload.objects.filter(expires_at__lte=now):
        if upload.finished:
            upload.delete()
            count += 1
            continue
        try:
            with partial.locked(upload.id):
                partial.path_for(upload.id).unlink(missing_ok=True)
                upload.delete()
        except partial.Busy:
            continue  # a request is writing right now: not expired after all
        except FileNotFoundError:
            upload.delete()
        count += 1
        log.info("expired upload %s deleted (%s of %s bytes had arrived)", upload.id, upload.offset, upload.length)
    known = set(Upload.objects.filter(status=Upload.Status.RECEIVING).values_list("id", flat=True))
    stale = now.timestamp() - conf.get("UPLOAD_EXPIRY_SECONDS")
    for path in conf.data_subdir("uploads").glob("*.part"):
        if path.stem not in known and path.stat().st_mtime < stale:
            path.unlink(missing_ok=True)
            log.info("deleted stray partial file %s", path.name)
    return count
