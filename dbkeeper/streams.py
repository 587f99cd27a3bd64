"""Small helpers for backup files as byte streams: gzip detection, the UTF-8
byte-order mark some Windows tools write, and sizes for people. One home, so
that every engine recognises a gzipped file the same way."""

import gzip
import io
import logging
import os

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"


def is_gzip(path) -> bool:
    """True when the file starts with the gzip magic bytes."""
    if isinstance(path, StreamSource):
        return path.head().startswith(GZIP_MAGIC)
    with open(path, "rb") as raw:
        return raw.read(len(GZIP_MAGIC)) == GZIP_MAGIC


def open_maybe_gzipped(path):
    """The file as a binary stream, decompressed as it is read when gzipped."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def strip_bom(data: bytes) -> bytes:
    """``data`` without a leading UTF-8 byte-order mark."""
    return data[len(UTF8_BOM):] if data.startswith(UTF8_BOM) else data


def skip_bom(stream):
    """Position ``stream`` (seekable, at its start) after a UTF-8 byte-order
    mark if it has one; JSON parsers and psql refuse the mark. Returns it."""
    if stream.read(len(UTF8_BOM)) != UTF8_BOM:
        stream.seek(0)
    return stream


def human_size(n) -> str:
    """``n`` bytes as people read it: "512 bytes", "1.5 MB" (1 KB = 1024 bytes)."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


HEAD_BYTES = 4096


class StreamSource:
    """A backup read front to back as a stream instead of a local file: a
    stored backup on remote storage (S3), fed to the tools that read a pipe
    (serial pg_restore, psql) without a temporary copy on disk.

    ``open_chunks()`` returns a new iterator of byte chunks from the start
    each time it is called (a new GET; decrypted on the way when the stored
    file is encrypted); it raises a DbkeeperError with a sentence when the
    bytes cannot be read. ``format`` is the catalog's format of the backup,
    ``size`` the size of the bytes the chunks add up to, when known."""

    def __init__(self, name, open_chunks, format="", size=None):
        self.name = str(name)
        self.format = format
        self.size = size
        self._open_chunks = open_chunks
        self._head = None
        self.reads = 0  # how many times the stream was opened (logs, tests)

    def chunks(self):
        self.reads += 1
        log.info("reading %s as a stream (pass %s), without a local copy", self.name, self.reads)
        return self._remembering_head(self._open_chunks())

    def _remembering_head(self, chunks):
        iterator = iter(chunks)
        try:
            for chunk in iterator:
                if self._head is None or len(self._head) < HEAD_BYTES:
                    self._head = ((self._head or b"") + bytes(chunk[:HEAD_BYTES]))[:HEAD_BYTES]
                yield chunk
        finally:
            closer = getattr(iterator, "close", None)
            if closer is not None:
                closer()

    def open(self) -> "ChunkReader":
        """A forward-only reader over a new pass of the stream."""
        return ChunkReader(self.chunks())

    def head(self, size=HEAD_BYTES) -> bytes:
        """The first bytes (remembered from the first pass that read them)."""
        if self._head is None or len(self._head) < min(size, HEAD_BYTES):
            reader = self.open()
            try:
                reader.read(size)
            finally:
                reader.close()
        return (self._head or b"")[:size]

    def __str__(self):
        return self.name

    def __fspath__(self):  # never a path: a tool that wants one must not get a stream
        raise TypeError(f"{self.name} is a stream, not a local file")


class ChunkReader(io.RawIOBase):
    """Byte chunks as a readable file: ``read(n)`` returns n bytes unless the
    stream ended; ``tell()`` counts what was read; ``seek`` moves forward only,
    by reading and discarding (what a parser that skips data needs)."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")
        self._position = 0

    def readable(self):
        return True

    def seekable(self):
        return False

    def tell(self):
        return self._position

    def _fill(self) -> bool:
        while not self._pending:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                return False
            self._pending = memoryview(chunk)
        return True

    def readinto(self, buffer):
        if not self._fill():
            return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self._position += n
        return n

    def read(self, size=-1):
        if size is None or size < 0:
            return self.readall()
        parts, wanted = [], size
        while wanted > 0 and self._fill():
            n = min(wanted, len(self._pending))
            parts.append(self._pending[:n].tobytes())
            self._pending = self._pending[n:]
            self._position += n
            wanted -= n
        return b"".join(parts)

    def readall(self):
        parts = []
        while self._fill():
            parts.append(self._pending.tobytes())
            self._position += len(self._pending)
            self._pending = memoryview(b"")
        return b"".join(parts)

    def peek(self, count) -> bytes:
        """The next ``count`` bytes (fewer at the end), left to be read."""
        while len(self._pending) < count:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                break
            self._pending = memoryview(self._pending.tobytes() + bytes(chunk))
        return self._pending[:count].tobytes()

    def skip(self, count) -> int:
        """Discard up to ``count`` bytes; returns how many were discarded."""
        skipped = 0
        while skipped < count and self._fill():
            n = min(count - skipped, len(self._pending))
            self._pending = self._pending[n:]
            skipped += n
        self._position += skipped
        return skipped

    def seek(self, offset, whence=os.SEEK_SET):
        target = offset if whence == os.SEEK_SET else self._position + offset if whence == os.SEEK_CUR else None
        if target is None or target < self._position:
            raise io.UnsupportedOperation("a stream only moves forward")
        self.skip(target - self._position)
        return self._position

    def close(self):
        closer = getattr(self._chunks, "close", None)
        if closer is not None:
            closer()  # a generator over an S3 body closes the body
        super().close()
