"""The partial file of an upload: where it lives, the lock that lets one
request at a time write to it, and appending a chunk read from a request
stream in constant memory."""

import contextlib
import errno
import fcntl
import hashlib
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from .. import conf
from .hashing import BackgroundHasher

READ_SIZE = 1024 * 1024
# Written in smaller pieces than read: with 1 MiB writes, filling the page
# cache was several times slower than with 64 KiB ones (bench/upload_bench.py).
WRITE_SIZE = 64 * 1024
# Errors that mean "no room left": keep what fitted, answer 507.
NO_SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
CHECKSUM_ALGORITHMS = ("sha1", "sha256", "md5")


class Busy(Exception):
    """Another request holds the upload's lock."""


def path_for(upload_id) -> Path:
    # Server-generated id only: the client's file name never becomes a path.
    return conf.data_subdir("uploads") / f"{upload_id}.part"


def create(upload_id) -> Path:
    path = path_for(upload_id)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    return path


@contextlib.contextmanager
def locked(upload_id, wait=0.0):
    """The partial file, open for writing, with an exclusive lock held (an
    fcntl lock, so it holds across threads and processes). Raises Busy if
    another request keeps it longer than ``wait`` seconds, FileNotFoundError
    if the file is gone."""
    fd = os.open(path_for(upload_id), os.O_RDWR)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Busy() from None
                time.sleep(0.05)
        yield fd
    finally:
        os.close(fd)  # releases the lock


@dataclass
class Appended:
    written: int  # bytes kept in the file
    received: int  # bytes read from the stream
    complete: bool  # the whole chunk arrived
    checksum_ok: bool = True
    disk_full: bool = False
    digest: object = None  # hashlib object of the file as it now is, if one was given


def append(fd, start, stream, expected, checksum=None, running=None) -> Appended:
    """Append up to ``expected`` bytes read from ``stream`` at ``start``.

    ``checksum`` is (algorithm, digest bytes): the chunk is kept only if it
    arrived whole and matches; otherwise the file goes back to ``start``.
    Without a checksum, whatever arrived before the connection dropped is
    kept, so the client resumes after it. ``running`` (a hashlib object of the
    file so far) is carried on over exactly the bytes kept: see ``Appended.digest``."""
    os.lseek(fd, start, os.SEEK_SET)
    chunk_hash = hashlib.new(checksum[0]) if checksum else None
    # With a checksum the chunk may still be thrown away: hash a copy.
    file_hash = running.copy() if (running is not None and checksum) else running
    hasher = BackgroundHasher([h for h in (chunk_hash, file_hash) if h is not None])
    received = written = 0
    disk_full = False
    try:
        while received < expected:
            try:
                data = stream.read(min(READ_SIZE, expected - received))
            except OSError:
                break  # the client's connection ended
            if not data:
                break
            received += len(data)
            view = memoryview(data)
            done, error = 0, None
            try:
                while done < len(view):
                    done += os.write(fd, view[done:done + WRITE_SIZE])
            except OSError as exc:
                error = exc
            hasher.update(view[:done])  # exactly the bytes now in the file
            written += done
            if error is not None:
                if error.errno not in NO_SPACE_ERRNOS:
                    os.ftruncate(fd, start + written)
                    raise error
                disk_full = True
                break
    finally:
        hasher.close()  # every kept byte is hashed before the digests are read
    complete = received == expected and not disk_full
    checksum_ok = True
    digest = file_hash
    if checksum:
        checksum_ok = complete and chunk_hash.digest() == checksum[1]
        if not checksum_ok:
            written = 0
            digest = running  # untouched: it never saw the discarded bytes
    if os.fstat(fd).st_size != start + written:
        os.ftruncate(fd, start + written)
    return Appended(written=written, received=received, complete=complete, checksum_ok=checksum_ok,
                    disk_full=disk_full, digest=digest)


class RunningDigests:
    """SHA-256 of each upload so far, kept in this process so that the
    completed file need not be read again. Requests of one upload may land in
    different processes: a digest that lags behind catches up by reading
    what the other process wrote; a process without one starts from zero
    only at offset 0, otherwise the completion reads the file once."""

    def __init__(self, size=64):
        self._items = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def take(self, upload_id, offset, fd):
        """A hashlib object of the first ``offset`` bytes, or None."""
        with self._lock:
            item = self._items.pop(upload_id, None)
        if item is None:
            return hashlib.sha256() if offset == 0 else None
        have, digest = item
        if have > offset:
            return hashlib.sha256() if offset == 0 else None
        position = have
        while position < offset:
            data = os.pread(fd, min(READ_SIZE * 8, offset - position), position)
            if not data:
                return None
            digest.update(data)
            position += len(data)
        return digest

    def put(self, upload_id, offset, digest):
        with self._lock:
            self._items[upload_id] = (offset, digest)
            self._items.move_to_end(upload_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def drop(self, upload_id):
        with self._lock:
            self._items.pop(upload_id, None)


running_digests = RunningDigests()
