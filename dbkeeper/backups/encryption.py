"""Encryption at rest in the age format (pyrage), so that any stored backup
can also be read with the stock ``age`` tool:

    with storage.writer(name, op.id) as out:
        with encrypting(out, recipients) as sink:   # the maker writes plaintext here
            ...sink.write(chunk)...
        out.commit()                                # size and sha256: of the ciphertext

    decrypt_to(storage.open_stream(name), scratch_path, identity_file())

age authenticates every 64 KiB chunk and the end of the stream, so a damaged,
truncated or altered file raises part-way through ``decrypt_to`` (after some
plaintext was written into scratch space): callers decrypt before anything
live is touched. dbkeeper never stores the private key: the identity file is
configured on the worker (DBKEEPER["AGE_IDENTITY_FILE"])."""

import io
import logging
import os
import queue
import threading
from datetime import datetime, timezone
from pathlib import Path

from .. import conf
from ..errors import DbkeeperError
from ..messages import N_

log = logging.getLogger(__name__)

# Chunks handed from the writer to the encrypting thread: bounded, so memory
# stays flat when storage is slower than the tool.
QUEUE_CHUNKS = 16
_EOF = object()


class EncryptionError(DbkeeperError):
    code = "encryption_error"


def _pyrage():
    import pyrage

    return pyrage


def parse_recipients(recipients) -> list:
    """age public keys ("age1...") as pyrage recipients; a bad one is named."""
    from pyrage import RecipientError, x25519

    if isinstance(recipients, str):
        recipients = recipients.replace(",", " ").split()
    parsed = []
    for text in recipients or []:
        text = str(text).strip()
        try:
            parsed.append(x25519.Recipient.from_str(text))
        except (RecipientError, ValueError) as exc:
            raise EncryptionError(N_("%(recipient)s is not an age public key (%(detail)s): it should start with age1."),
                                  code="bad_recipient", params={"recipient": text[:80], "detail": str(exc)}) from None
    return parsed


def default_recipients() -> list:
    value = conf.get("AGE_RECIPIENTS") or []
    return value.replace(",", " ").split() if isinstance(value, str) else list(value)


class _QueueReader(io.RawIOBase):
    """What pyrage reads the plaintext from: the chunks the writer queued."""

    def __init__(self, chunks):
        self.chunks = chunks
        self.pending = memoryview(b"")
        self.failed = False

    def readable(self):
        return True

    def readinto(self, buffer):
        if not self.pending:
            item = self.chunks.get()
            if item is _EOF:
                return 0
            if item is None:  # the maker gave up: make pyrage stop
                self.failed = True
                raise OSError("encryption abandoned")
            self.pending = memoryview(item)
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


class EncryptingWriter:
    """File-like: plaintext written here reaches ``sink`` encrypted. pyrage's
    streaming encryption pulls from a reader, so it runs in a thread fed
    through a bounded queue. ``close()`` writes the final chunk; leaving the
    ``with`` block on an exception stops without finishing the stream."""

    def __init__(self, sink, recipients):
        self.recipients = [str(r) for r in recipients]
        parsed = parse_recipients(self.recipients)
        if not parsed:
            raise EncryptionError(N_("Encryption needs at least one age public key."), code="no_recipients")
        self.sink = sink
        self.plaintext_size = 0
        self._chunks = queue.Queue(maxsize=QUEUE_CHUNKS)
        self._reader = _QueueReader(self._chunks)
        self._error = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, args=(parsed,), name="age-encrypt", daemon=True)
        self._thread.start()

    def _run(self, parsed):
        try:
            _pyrage().encrypt_io(self._reader, self.sink, parsed)
        except BaseException as exc:  # reported to the writing thread
            self._error = exc

    def writable(self):
        return True

    def _put(self, item):
        while True:
            if self._error is not None or not self._thread.is_alive():
                self._raise()
            try:
                self._chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _raise(self):
        exc = self._error
        if isinstance(exc, DbkeeperError):
            raise exc
        raise EncryptionError(N_("Encrypting the backup failed: %(detail)s."), code="encryption_failed",
                              params={"detail": str(exc) or type(exc).__name__}) from exc

    def write(self, data) -> int:
        if self._closed:
            raise ValueError("write to a closed EncryptingWriter")
        if data:
            self._put(bytes(data))
            self.plaintext_size += len(data)
        return len(data)

    def flush(self):
        pass

    def close(self):
        """Finish the age stream (its last, authenticated chunk) and wait for it."""
        if self._closed:
            return
        self._closed = True
        self._put(_EOF)
        self._thread.join()
        if self._error is not None:
            self._raise()

    def abandon(self):
        if self._closed:
            return
        self._closed = True
        try:
            self._chunks.put(None, timeout=5)
        except queue.Full:
            pass
        self._thread.join(timeout=30)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abandon()
        return False


def encrypting(writer, recipients=None) -> EncryptingWriter:
    """Wrap ``writer`` so that what is written reaches it encrypted to
    ``recipients`` (default: DBKEEPER["AGE_RECIPIENTS"])."""
    return EncryptingWriter(writer, default_recipients() if recipients is None else recipients)


# ------------------------------------------------------------------ decrypting


def identity_file():
    """The configured identity file; a clear error when there is none."""
    path = conf.get("AGE_IDENTITY_FILE")
    if not path:
        raise EncryptionError(
            N_("This backup is encrypted, but no age identity is configured on this worker: set AGE_IDENTITY_FILE in "
               "the DBKEEPER settings to the identity file made by %(command)s."),
            code="no_identity", params={"command": "dbkeeper keygen"})
    return Path(path).expanduser()


def load_identities(path) -> list:
    from pyrage import IdentityError, x25519

    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise EncryptionError(N_("The age identity file %(path)s does not exist."), code="no_identity",
                              params={"path": str(path)}) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EncryptionError(N_("The age identity file %(path)s cannot be read: %(detail)s."), code="no_identity",
                              params={"path": str(path), "detail": str(exc)}) from None
    identities = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(x25519.Identity.from_str(line))
        except (IdentityError, ValueError):
            # Never quote the line: it may be a (mistyped) private key.
            raise EncryptionError(N_("The age identity file %(path)s holds a line that is not an age identity."),
                                  code="bad_identity", params={"path": str(path)}) from None
    if not identities:
        raise EncryptionError(N_("The age identity file %(path)s holds no age identity."), code="bad_identity",
                              params={"path": str(path)})
    return identities


class _StreamReader(io.RawIOBase):
    """An iterator of byte chunks (BackupStorage.open_stream) as a reader.
    An error of the stream itself (S3 went away) is kept to be raised as is."""

    def __init__(self, chunks):
        self.chunks = iter(chunks)
        self.pending = memoryview(b"")
        self.error = None

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self.pending:
            try:
                chunk = next(self.chunks)
            except StopIteration:
                return 0
            except Exception as exc:
                self.error = exc
                raise OSError(str(exc)) from exc
            self.pending = memoryview(chunk)
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


class _CountingFile(io.RawIOBase):
    def __init__(self, fh):
        self.fh = fh
        self.size = 0

    def writable(self):
        return True

    def write(self, data):
        self.fh.write(data)
        self.size += len(data)
        return len(data)


def decrypt_to(stream, dest_path, identity_path) -> int:
    """Decrypt the age ciphertext read from ``stream`` (an iterator of bytes or
    a readable file) into ``dest_path``; returns the plaintext size. A wrong
    identity, or a damaged, truncated or altered ciphertext raises
    EncryptionError (``dest_path`` may then hold some plaintext: it is scratch)."""
    pyrage = _pyrage()
    identities = load_identities(identity_path)
    reader = stream if hasattr(stream, "readinto") or hasattr(stream, "read") else _StreamReader(stream)
    with open(dest_path, "wb") as fh:
        out = _CountingFile(fh)
        try:
            pyrage.decrypt_io(reader, out, identities)
        except (pyrage.DecryptError, OSError) as exc:
            raise _decrypt_error(exc, reader, out.size, identity_path) from None
    return out.size


def _decrypt_error(exc, reader, written, identity_path):
    """What a failed decryption means: the stream's own error (S3 went
    away), a key the backup was not encrypted to, or damaged ciphertext."""
    if getattr(reader, "error", None) is not None:
        return reader.error
    if "no matching keys" in str(exc).lower():
        return EncryptionError(
            N_("The age identity in %(path)s cannot decrypt this backup: it was encrypted to other keys."),
            code="wrong_identity", params={"path": str(identity_path)})
    return _damaged(exc, written)


class _Failure:
    def __init__(self, exc):
        self.exc = exc


class _QueueSink(io.RawIOBase):
    """Where pyrage writes plaintext: a bounded queue the reading side empties."""

    def __init__(self, chunks, stop):
        self.chunks = chunks
        self.stop = stop
        self.size = 0

    def writable(self):
        return True

    def write(self, data):
        item = bytes(data)
        while True:
            if self.stop.is_set():
                raise OSError("decryption abandoned")
            try:
                self.chunks.put(item, timeout=0.5)
                break
            except queue.Full:
                continue
        self.size += len(item)
        return len(item)


def decrypted_chunks(chunks, identity_path):
    """The plaintext of the age ciphertext in ``chunks`` (an iterator of bytes,
    e.g. BackupStorage.open_stream), as chunks, decrypted in a thread while
    it is read: nothing is written to disk. A wrong identity, or a damaged,
    truncated or altered ciphertext raises EncryptionError where decryption
    stops, after the authenticated plaintext before it was yielded: a
    consumer must treat what it received as scratch until the end."""
    pyrage = _pyrage()
    identities = load_identities(identity_path)
    reader = _StreamReader(chunks)
    pending = queue.Queue(maxsize=QUEUE_CHUNKS)
    stop = threading.Event()
    sink = _QueueSink(pending, stop)

    def put(item):
        while not stop.is_set():
            try:
                pending.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def run():
        try:
            pyrage.decrypt_io(reader, sink, identities)
        except BaseException as exc:  # handed to the reading side
            put(_Failure(exc))
        else:
            put(_EOF)

    thread = threading.Thread(target=run, name="age-decrypt", daemon=True)
    thread.start()
    try:
        while True:
            item = pending.get()
            if item is _EOF:
                return
            if isinstance(item, _Failure):
                exc = item.exc
                if isinstance(exc, (pyrage.DecryptError, OSError)):
                    raise _decrypt_error(exc, reader, sink.size, identity_path) from None
                raise EncryptionError(N_("Decrypting the backup failed: %(detail)s."), code="decryption_failed",
                                      params={"detail": str(exc) or type(exc).__name__}) from exc
            yield item
    finally:
        stop.set()
        thread.join(timeout=30)
        closer = getattr(reader.chunks, "close", None)
        if closer is not None and not thread.is_alive():
            closer()  # the S3 body


def _damaged(exc, written):
    return EncryptionError(
        N_("The encrypted backup is damaged, truncated or was altered: decryption stopped after %(size)s bytes "
           "(%(detail)s)."),
        code="decryption_failed", params={"size": written, "detail": str(exc)})


# ------------------------------------------------------------------- keys


def generate_identity(output: Path):
    """Write a new age identity to ``output`` (mode 0600, never over an
    existing file: that would lose the key of existing backups); returns the
    public key."""
    from pyrage import x25519

    identity = x25519.Identity.generate()
    public = str(identity.to_public())
    created = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    text = f"# created: {created}\n# public key: {public}\n{identity}\n"
    output = Path(output).expanduser()
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise EncryptionError(
            N_("%(path)s already exists: dbkeeper keygen never overwrites a key, since the backups encrypted to it "
               "could no longer be read. Choose another file."),
            code="identity_exists", params={"path": str(output)}) from None
    except OSError as exc:
        raise EncryptionError(N_("The identity file %(path)s cannot be created: %(detail)s."), code="identity_io",
                              params={"path": str(output), "detail": exc.strerror or str(exc)}) from None
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(output, 0o600)
    log.info("wrote a new age identity to %s (public key %s)", output, public)
    return public
