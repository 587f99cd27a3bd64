"""A tus 1.0 client for the command line: sends a file in chunks, resumes
after a dropped connection (and, through a small state file, after being
stopped and run again), and returns the server's result."""

import base64
import hashlib
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import requests
import urllib3

from ..errors import DbkeeperError
from ..messages import N_
from .hashing import BackgroundHasher

log = logging.getLogger(__name__)

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"
DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
MAX_DELAY_SECONDS = 30
# Answers after which the same request may simply be tried again.
RETRYABLE = {409, 423, 460, 500, 502, 503, 504}


class UploadFailed(DbkeeperError):
    code = "upload_failed"


class Retry(Exception):
    """A failure worth another try after asking the server for its offset."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


def endpoint_for(server) -> str:
    """The tus endpoint from dbkeeper's address (or the endpoint itself)."""
    server = server.rstrip("/") + "/"
    return server if server.endswith("/api/uploads/") else urljoin(server, "api/uploads/")


def default_state_file() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "dbkeeper" / "uploads.json"


class StateFile:
    """Upload URLs of unfinished uploads, keyed by what identifies the file
    and the server, so that running the same command again resumes."""

    def __init__(self, path):
        self.path = Path(path)

    @staticmethod
    def key(path, endpoint):
        stat = os.stat(path)
        return f"{endpoint} {Path(path).resolve()} {stat.st_size} {stat.st_mtime_ns}"

    def _read(self):
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def get(self, key):
        return self._read().get(key)

    def set(self, key, url):
        data = self._read()
        if url is None:
            data.pop(key, None)
        else:
            data[key] = url
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)


@dataclass
class Progress:
    """What the caller hears about: the offset, and why it is waiting."""

    on_offset: object = lambda offset, total: None
    on_resume: object = lambda offset: None
    on_retry: object = lambda message, delay: None


def error_message(response, fallback):
    try:
        return response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return f"{fallback} (HTTP {response.status_code})."


class TusUpload:
    def __init__(self, path, server, token, chunk_size=DEFAULT_CHUNK_SIZE, checksum=None, retries=10,
                 state_file=None, progress=None, timeout=(15, 600)):
        self.path = Path(path)
        if not self.path.is_file():
            raise UploadFailed(f"There is no file {path}.")
        if chunk_size < 1:
            raise UploadFailed("The chunk size must be at least one byte.")
        self.size = self.path.stat().st_size
        self.endpoint = endpoint_for(server)
        self.chunk_size = chunk_size
        self.checksum = None if checksum in (None, "none") else checksum
        self.retries = retries
        self.state = StateFile(state_file or default_state_file())
        self.key = StateFile.key(self.path, self.endpoint)
        self.progress = progress or Progress()
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update({**TUS, "Authorization": f"Bearer {token}"})
        self.url = None
        self.offset = 0
        # Whether the server has answered once in this run: a connection that
        # never worked is a wrong address or a server that is down, not worth
        # three minutes of retries; one that worked and broke is retried.
        self.reached = False
        self.status = None  # the server's Dbkeeper-Upload-Status once finished
        # SHA-256 of the local file, fed by the chunks as they go, to check the stored copy.
        self.file_hash = hashlib.sha256()
        self.hasher = None
        self.hashed = 0

    # -- requests ---------------------------------------------------------------
    def _check_auth(self, response):
        self.reached = True
        if response.status_code in (401, 403):
            raise UploadFailed(error_message(response, "The server refused the token"))

    def head(self):
        """(offset, status) from the server, or None if the upload is gone."""
        response = self.session.head(self.url, timeout=self.timeout)
        self._check_auth(response)
        if response.status_code in (404, 410):
            return None
        if response.status_code != 200:
            raise Retry(f"The server did not say how much it has (HTTP {response.status_code}).")
        return int(response.headers["Upload-Offset"]), response.headers.get("Dbkeeper-Upload-Status", "receiving")

    def create(self):
        name = base64.b64encode(self.path.name.encode()).decode()
        response = self.session.post(self.endpoint, timeout=self.timeout,
                                     headers={"Upload-Length": str(self.size), "Upload-Metadata": f"filename {name}"})
        self._check_auth(response)
        finished = self._finished(response.headers.get("Dbkeeper-Upload-Status"))
        if response.status_code == 422 and finished and "Dbkeeper-Result-Url" in response.headers:
            # An empty file: complete and refused at once; the result says why (nothing to resume).
            self.url = urljoin(self.endpoint, response.headers["Dbkeeper-Result-Url"]).removesuffix("/result")
            self.offset, self.status = 0, finished
            return
        if response.status_code != 201:
            raise UploadFailed(error_message(response, "The server refused to start the upload"))
        self.url = urljoin(self.endpoint, response.headers["Location"])
        self.offset = 0
        self.status = finished
        self.state.set(self.key, self.url)

    def send_chunk(self, reader):
        self.hash_until(reader, self.offset)
        data = reader.read(self.offset)
        if self.offset <= self.hashed < self.offset + len(data):
            self.hasher.update(memoryview(data)[self.hashed - self.offset:])
            self.hashed = self.offset + len(data)
        headers = {"Upload-Offset": str(self.offset), "Content-Type": OCTETS}
        if self.checksum:
            digest = base64.b64encode(hashlib.new(self.checksum, data).digest()).decode()
            headers["Upload-Checksum"] = f"{self.checksum} {digest}"
        response = self.session.patch(self.url, data=data, headers=headers, timeout=self.timeout)
        self._check_auth(response)
        if response.status_code in RETRYABLE or (response.status_code == 400 and "incomplete" in response.text):
            raise Retry(error_message(response, "The server did not take the chunk"), response.status_code)
        finished = self._finished(response.headers.get("Dbkeeper-Upload-Status"))
        # 422 on the last chunk: the file arrived but was not kept; the result says why.
        if response.status_code != 204 and not (response.status_code == 422 and finished):
            raise UploadFailed(error_message(response, "The server refused the chunk"))
        self.offset = int(response.headers["Upload-Offset"])
        self.status = finished
        self.progress.on_offset(self.offset, self.size)

    def hash_until(self, reader, end):
        """Hash the part of the local file that was sent before (a resumed upload)."""
        while self.hashed < end:
            data = os.pread(reader.fd, min(self.chunk_size, end - self.hashed), self.hashed)
            if not data:
                raise UploadFailed(f"{self.path} got shorter while it was being uploaded.")
            self.hasher.update(data)
            self.hashed += len(data)

    @staticmethod
    def _finished(status):
        return None if status in (None, "receiving") else status

    def result(self):
        while True:
            response = self.session.get(self.url + "/result", timeout=self.timeout)
            self._check_auth(response)
            if response.status_code != 200:
                raise Retry(error_message(response, "The server did not give the upload's result"))
            result = response.json()
            if result["status"] != "completing":
                return result
            time.sleep(1)

    # -- the whole upload ----------------------------------------------------------
    def with_retries(self, step, resync=True):
        """Run ``step``; after a dropped connection or a retryable answer,
        wait (1, 2, 4 … 30 s), take the server's offset and try again."""
        for attempt in range(self.retries + 1):
            try:
                if attempt and resync and self.url:
                    self.resync()
                return step()
            except (Retry, requests.ConnectionError, requests.Timeout) as exc:
                if not self.reached and connect_failed(exc):
                    raise UploadFailed(N_("Nothing answers at %(server)s: check the address (and that the server "
                                          "is running), then run the same command again."),
                                       params={"server": self.endpoint}) from None
                if isinstance(exc, Retry) and exc.status == 409 and attempt < self.retries:
                    continue  # the server has more (or less) than we thought: resync at once
                if attempt == self.retries:
                    raise UploadFailed(f"The upload stopped at byte {self.offset:,} after {self.retries} retries: "
                                       f"{describe(exc)} Run the same command again to resume.") from None
                delay = min(MAX_DELAY_SECONDS, 2**attempt)
                log.info("upload at byte %s: %s; retrying in %s s", self.offset, describe(exc), delay)
                self.progress.on_retry(describe(exc), delay)
                time.sleep(delay)

    def resync(self):
        state = self.head()
        if state is None:
            self.state.set(self.key, None)
            raise UploadFailed("The server no longer has this upload (it expired or was cancelled); run the command again to start over.")
        self.offset, status = state
        self.status = self._finished(status)

    def run(self) -> dict:
        stored = self.state.get(self.key)
        if stored:
            self.url = stored
            state = self.with_retries(self.head, resync=False)
            if state is None:
                self.url = None
                self.state.set(self.key, None)
            else:
                self.offset, status = state
                self.status = self._finished(status)
                self.progress.on_resume(self.offset)
        if self.url is None:
            self.with_retries(self.create, resync=False)
        self.progress.on_offset(self.offset, self.size)
        self.hasher = BackgroundHasher([self.file_hash], depth=2)
        try:
            with open(self.path, "rb") as fh, ChunkReader(fh, self.chunk_size, self.size) as reader:
                while self.status is None:
                    self.with_retries(lambda: self.status or self.send_chunk(reader))
                self.hash_until(reader, self.size)
        finally:
            self.hasher.close()
        result = self.with_retries(self.result)
        self.state.set(self.key, None)
        backup = result.get("backup")
        # An encrypted backup's sha256 is the ciphertext's; plaintext_sha256 is what was sent.
        received = backup and (backup.get("plaintext_sha256") or backup["sha256"])
        if backup and received != self.file_hash.hexdigest():
            raise UploadFailed(f"The stored backup {backup['id']} differs from {self.path.name} (SHA-256 "
                               f"{received[:12]}… instead of {self.file_hash.hexdigest()[:12]}…); upload it again.")
        return result


class ChunkReader:
    """Reads chunks of the file, the next one ahead in a thread while the
    current one is on its way, so it is ready when the server answers."""

    def __init__(self, fh, chunk_size, size):
        self.fd, self.chunk_size, self.size = fh.fileno(), chunk_size, size
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.ahead = None  # (offset, future of its bytes)

    def _read(self, offset):
        return os.pread(self.fd, min(self.chunk_size, self.size - offset), offset)

    def read(self, offset):
        if self.ahead and self.ahead[0] == offset:
            data = self.ahead[1].result()
        else:  # first chunk, or the server's offset moved after a failure
            data = self._read(offset)
        if not data:
            raise UploadFailed("The file got shorter while it was being uploaded; upload it again once it is complete.")
        following = offset + len(data)
        self.ahead = (following, self.pool.submit(self._read, following)) if following < self.size else None
        return data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.pool.shutdown(wait=True, cancel_futures=True)


def connect_failed(exc) -> bool:
    """Whether no connection could be opened at all (refused, no route, unknown
    host, connect timeout), as opposed to one that was opened and then broke."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def describe(exc):
    if isinstance(exc, requests.ConnectionError):
        return "The connection to the server was lost."
    if isinstance(exc, requests.Timeout):
        return "The server did not answer in time."
    return str(exc)
