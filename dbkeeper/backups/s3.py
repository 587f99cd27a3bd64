"""S3 backup storage: configured through django-storages' settings (bucket,
endpoint, keys), but written with boto3 multipart uploads in bounded parts and
read with ranged ``get_object`` streaming bodies, so that memory stays flat
whatever the size of the backup.

An unfinished multipart upload is invisible but costs storage until it is
aborted. Each writer therefore leaves a small marker object
``.partial/<operation id>/<upload id>`` holding the key, so that the watchdog
can abort the uploads of a worker that died (``sweep_unfinished``)."""

import logging
import posixpath
import threading
from concurrent.futures import ThreadPoolExecutor

from .. import conf
from ..messages import N_
from .storage import PARTIAL_DIR, BackupStorage, StorageError, StoredWriter, _check_range, _safe_operation_id, clean_name

log = logging.getLogger(__name__)

# S3 needs parts of at least 5 MiB (except the last); a part is held in memory
# while it is sent.
MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024
READ_CHUNK = 1024 * 1024
# Parts uploaded at once while the dump goes on, and parts handed to the
# threads at most; with the part being filled, memory holds about
# UPLOADS_IN_FLIGHT + 1 parts, whatever the size of the backup (the bench
# measured 141 MB peak for the whole process with 2, 146 MB with 3).
UPLOAD_THREADS = 2
UPLOADS_IN_FLIGHT = 2

CREDENTIAL_ERRORS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken",
                     "ExpiredToken", "AuthorizationHeaderMalformed", "InvalidSecurity", "Forbidden", "403"}
MISSING = {"NoSuchKey", "404", "NotFound"}


def part_size() -> int:
    return max(MIN_PART_SIZE, int(conf.get("S3_PART_SIZE")))


def s3_error(exc, storage, name=None) -> StorageError:
    """One sentence for what went wrong talking to S3; boto3's own words stay a parameter."""
    from botocore.exceptions import ClientError, EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError

    endpoint = storage.endpoint or "AWS S3"
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        detail = exc.response.get("Error", {}).get("Message") or code
        if code in CREDENTIAL_ERRORS:
            return StorageError(
                N_("The S3 storage at %(endpoint)s refused dbkeeper's credentials (%(detail)s): check the access key "
                   "and secret key configured for bucket %(bucket)s."),
                code="storage_credentials", params={"endpoint": endpoint, "detail": detail, "bucket": storage.bucket})
        if code == "NoSuchBucket":
            return StorageError(N_("The S3 bucket %(bucket)s does not exist at %(endpoint)s."), code="storage_no_bucket",
                                params={"bucket": storage.bucket, "endpoint": endpoint})
        if code in MISSING and name is not None:
            return StorageError(N_("The stored file %(name)s is missing from the %(storage)s storage."),
                                code="backup_missing", params={"name": name, "storage": storage.name})
        return StorageError(N_("The S3 storage at %(endpoint)s answered with an error: %(detail)s."),
                            code="storage_error", params={"endpoint": endpoint, "detail": f"{code}: {detail}"})
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError)):
        return StorageError(N_("The S3 storage at %(endpoint)s cannot be reached: %(detail)s."),
                            code="storage_unreachable", params={"endpoint": endpoint, "detail": str(exc)})
    return StorageError(N_("The S3 storage at %(endpoint)s failed: %(detail)s."), code="storage_error",
                        params={"endpoint": endpoint, "detail": str(exc) or type(exc).__name__})


def _boto_errors():
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


class S3Writer(StoredWriter):
    """Parts are uploaded from threads while the writer keeps receiving, so
    that the dump and the upload overlap; at most UPLOADS_IN_FLIGHT parts
    are being sent, and the writer waits for a free slot rather than reading
    ahead of the storage."""

    def __init__(self, storage, final_name, operation_id):
        super().__init__(storage, final_name, operation_id)
        self.key = storage.key(self.final_name)
        self._part_size = part_size()
        self._pending = []  # chunks of the part being filled
        self._pending_size = 0
        self._parts = {}  # part number -> ETag
        self._numbers = 0
        self._futures = []
        self._pool = None
        self._slots = threading.BoundedSemaphore(UPLOADS_IN_FLIGHT)
        self._failure = None
        try:
            if storage._head(self.key) is not None:
                raise StorageError(N_("A stored file called %(name)s already exists."), code="storage_name_taken",
                                   params={"name": self.final_name})
            created = storage.client.create_multipart_upload(Bucket=storage.bucket, Key=self.key)
            self.upload_id = created["UploadId"]
            # Written after the upload exists, so that a marker never points at nothing
            # for long; a crash between the two leaves an upload the bucket's
            # lifecycle rule (or sweep by key) must catch.
            self.marker = storage.key(f"{PARTIAL_DIR}/{self.operation_id}/{self.upload_id}")
            storage.client.put_object(Bucket=storage.bucket, Key=self.marker, Body=self.key.encode())
        except _boto_errors() as exc:
            raise s3_error(exc, storage, self.final_name) from exc

    def _write(self, data):
        self._pending.append(data if isinstance(data, bytes) else bytes(data))
        self._pending_size += len(data)
        while self._pending_size >= self._part_size:
            joined = b"".join(self._pending)  # the one copy a part costs
            part, rest = (joined, b"") if len(joined) == self._part_size else \
                (joined[:self._part_size], joined[self._part_size:])
            del joined
            self._pending, self._pending_size = ([rest] if rest else []), len(rest)
            self._submit(part)

    def _raise_failure(self):
        if self._failure is not None:
            raise self._failure

    def _submit(self, part):
        self._raise_failure()
        # Wait for a slot, but not forever if an upload failed meanwhile.
        while not self._slots.acquire(timeout=0.5):
            self._raise_failure()
        self._raise_failure()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=UPLOAD_THREADS, thread_name_prefix="s3-part")
        self._numbers += 1
        self._futures.append(self._pool.submit(self._send, self._numbers, part))

    def _send(self, number, part):
        try:
            answer = self.storage.client.upload_part(Bucket=self.storage.bucket, Key=self.key, UploadId=self.upload_id,
                                                     PartNumber=number, Body=part)
            self._parts[number] = answer["ETag"]
        except _boto_errors() as exc:
            self._failure = self._failure or s3_error(exc, self.storage, self.final_name)
        except BaseException as exc:
            self._failure = self._failure or s3_error(exc, self.storage, self.final_name)
        finally:
            self._slots.release()

    def _wait_uploads(self):
        for future in self._futures:
            future.result()
        self._futures = []
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._raise_failure()

    def _commit(self):
        client, bucket = self.storage.client, self.storage.bucket
        try:
            if self._pending_size or not self._numbers:
                self._submit(b"".join(self._pending))
                self._pending, self._pending_size = [], 0
            self._wait_uploads()
            parts = [{"PartNumber": n, "ETag": self._parts[n]} for n in sorted(self._parts)]
            client.complete_multipart_upload(Bucket=bucket, Key=self.key, UploadId=self.upload_id,
                                             MultipartUpload={"Parts": parts})
            client.delete_object(Bucket=bucket, Key=self.marker)
        except StorageError:
            self._abort()
            raise
        except _boto_errors() as exc:
            self._abort()
            raise s3_error(exc, self.storage, self.final_name) from exc

    def _abort(self):
        self._pending, self._pending_size = [], 0
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self.storage._abort_upload(self.key, self.upload_id, self.marker)


class S3BackupStorage(BackupStorage):
    kind = "s3"

    def __init__(self, name, django_storage):
        self.name = name
        self.django = django_storage
        self.bucket = django_storage.bucket_name
        self.location = (django_storage.location or "").strip("/")
        self.endpoint = getattr(django_storage, "endpoint_url", None)
        # django-storages builds the boto3 client from its settings (keys,
        # endpoint, region, addressing style); only its file object is avoided.
        self.client = django_storage.connection.meta.client

    def key(self, name) -> str:
        return posixpath.join(self.location, name) if self.location else name

    def _name_of(self, key) -> str:
        return key[len(self.location) + 1:] if self.location else key

    def _head(self, key):
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in MISSING:
                return None
            raise

    def writer(self, final_name, operation_id):
        return S3Writer(self, final_name, operation_id)

    def open_stream(self, name, start=0, end=None):
        name = clean_name(name)
        size = self.size(name)
        _check_range(size, start, end)
        if end is None:
            end = size - 1
        if end < start:  # an empty file, or an empty range
            return iter(())
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(name), Range=f"bytes={start}-{end}")
        except _boto_errors() as exc:
            raise s3_error(exc, self, name) from exc
        return self._chunks(answer["Body"], name)

    def _chunks(self, body, name):
        try:
            for chunk in body.iter_chunks(READ_CHUNK):
                yield chunk
        except _boto_errors() as exc:
            raise s3_error(exc, self, name) from exc
        finally:
            body.close()

    def size(self, name) -> int:
        name = clean_name(name)
        try:
            head = self._head(self.key(name))
        except _boto_errors() as exc:
            raise s3_error(exc, self, name) from exc
        if head is None:
            raise StorageError(N_("The stored file %(name)s is missing from the %(storage)s storage."),
                               code="backup_missing", params={"name": name, "storage": self.name})
        return int(head["ContentLength"])

    def exists(self, name) -> bool:
        name = clean_name(name)
        try:
            return self._head(self.key(name)) is not None
        except _boto_errors() as exc:
            raise s3_error(exc, self, name) from exc

    def delete(self, name) -> None:
        name = clean_name(name)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key(name))
        except _boto_errors() as exc:
            raise s3_error(exc, self, name) from exc

    def _keys(self, prefix):
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"]
        except _boto_errors() as exc:
            raise s3_error(exc, self) from exc

    def list_names(self, prefix=""):
        partial = self.key(PARTIAL_DIR) + "/"
        for key in self._keys(self.key(prefix)):
            if not key.startswith(partial):
                yield self._name_of(key)

    def _abort_upload(self, key, upload_id, marker):
        from botocore.exceptions import ClientError

        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) != "NoSuchUpload":
                raise
        self.client.delete_object(Bucket=self.bucket, Key=marker)

    def _markers(self, prefix):
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                yield from page.get("Contents", [])
        except _boto_errors() as exc:
            raise s3_error(exc, self) from exc

    def _abort_marked(self, marker) -> None:
        upload_id = marker.rsplit("/", 1)[1]
        try:
            key = self.client.get_object(Bucket=self.bucket, Key=marker)["Body"].read().decode()
            self._abort_upload(key, upload_id, marker)
        except _boto_errors() as exc:
            raise s3_error(exc, self) from exc

    def sweep_unfinished(self, operation_id) -> int:
        markers = [m["Key"] for m in self._markers(self.key(f"{PARTIAL_DIR}/{_safe_operation_id(operation_id)}/"))]
        for marker in markers:
            self._abort_marked(marker)
        if markers:
            log.info("aborted %s unfinished upload(s) of operation %s in %s storage", len(markers), operation_id,
                     self.name)
        return len(markers)

    def sweep_stale(self, max_age_seconds) -> int:
        from datetime import datetime, timedelta, timezone

        cutoff = datetime.now(timezone.utc) - timedelta(seconds=max_age_seconds)
        markers = [m["Key"] for m in self._markers(self.key(PARTIAL_DIR) + "/") if m["LastModified"] <= cutoff]
        for marker in markers:
            self._abort_marked(marker)
        if markers:
            log.info("aborted %s stale unfinished upload(s) in %s storage", len(markers), self.name)
        return len(markers)

    def pending_uploads(self, prefix=""):
        """The multipart uploads not yet completed or aborted (for checks and tests)."""
        try:
            answer = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=self.key(prefix))
        except _boto_errors() as exc:
            raise s3_error(exc, self) from exc
        return [(u["Key"], u["UploadId"]) for u in answer.get("Uploads", [])]
