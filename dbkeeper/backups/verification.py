"""Verifying a stored backup: re-read the stored bytes and compare their
SHA-256 and size with the catalog, restore them into a scratch copy (never
the live database) through the engine, compare its tables and exact row
counts with the catalog, drop the scratch, and record the outcome on the
backup. Started from the CLI, the API and the Backups page through
``start_verify``; run by the worker as an operation of kind "verify"."""

import contextlib
import hashlib
import logging
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from .. import conf, engines, targets
from ..errors import Cancelled, DbkeeperError, TargetError
from ..messages import Message, N_, Np_, shortened
from ..operations.models import Operation
from ..streams import StreamSource
from .models import Backup
from .storage import LocalStorage, StorageError, get_storage

log = logging.getLogger(__name__)
Stage = Operation.Stage
SHOWN = 10  # tables named in one sentence


class VerificationFailed(DbkeeperError):
    code = "verification_failed"


@dataclass
class VerifyPlan:
    backup: Backup
    target: object  # the resolved target whose server (or folder) holds the scratch copy


@dataclass
class StartedVerify:
    operation: Operation
    token: str = ""


def plan_verify(backup_id, target="", user=None) -> VerifyPlan:
    """Check that ``backup_id`` exists and has somewhere to be test-restored:
    the target it was made from, or ``target`` (a configured name) for a
    backup dbkeeper did not make. Records nothing. ``user`` needs ``backup``
    on the backup's target and on the target named (None: dbkeeper itself)."""
    from ..access import permissions

    backup_id = str(backup_id or "").strip()
    backup = Backup.objects.filter(pk=backup_id).first() if backup_id else None
    if backup is None:
        raise DbkeeperError(N_("There is no stored backup with that id."), code="backup_missing")
    target = str(target or "").strip()
    if user is not None:
        permissions.require_on(user, "backup", backup.target_spec, backup.target_display)
        if target:
            permissions.require(user, "backup", target)
    if target and target not in targets.configured_targets():
        raise TargetError(N_("There is no target named %(name)s."), code="target_unknown", params={"name": target})
    spec = target or backup.target_spec
    if not spec:
        raise DbkeeperError(
            N_("Backup %(id)s was not made by dbkeeper, so it has no database to be test-restored next to. "
               "Name a target to verify it with."),
            code="verify_needs_target", params={"id": backup.id})
    resolved = targets.resolve(spec)
    engine = engines.by_format(backup.format)
    if resolved.kind not in engine.target_kinds:
        raise DbkeeperError(N_("A %(label)s cannot be restored into a %(kind)s database."), code="wrong_target_kind",
                            params={"label": Message(backup.format_label or backup.format), "kind": resolved.kind})
    return VerifyPlan(backup, resolved)


def record(plan: VerifyPlan, user=None) -> Operation:
    """The operation for a plan; not queued yet. A verification takes no
    target lock: it never touches the live database, and its scratch copy
    is named after the operation."""
    backup, target = plan.backup, plan.target
    waiting = Message(N_("Waiting for a worker."))
    op = Operation.objects.create(
        kind=Operation.Kind.VERIFY,
        user_id=str(getattr(user, "pk", "") or ""),
        username=getattr(user, "get_username", lambda: "")() if user is not None else "",
        source_name=backup.name,
        backup_id=backup.id,
        backup_format=backup.format,
        target_spec=target.spec,
        target_display=target.display(),
        lock_key=None,
        message=waiting.english(),
        message_data=waiting.to_json(),
    )
    op.add_event(N_("Verification of backup %(backup)s queued."), params={"backup": backup.id})
    from ..audit import service as audit

    audit.operation_started(op, user=user, database=target.name)
    return op


def launch(plan: VerifyPlan, user=None, language="", token=False) -> StartedVerify:
    """Record and queue; a queue that cannot be reached ends the operation as
    failed and raises queue_down."""
    from ..operations.service import issue_and_queue
    from ..operations.verify_runner import finish

    op = record(plan, user=user)
    raw = issue_and_queue(op, token=token, language=language, finish=finish, queue_down=N_(
        "The verification could not be queued: the task queue is not reachable."))
    return StartedVerify(op, raw)


def start_verify(backup_id, user=None, language="", token=False, target="") -> StartedVerify:
    """Check, record and queue a verification: the API's one call."""
    return launch(plan_verify(backup_id, target=target, user=user), user=user, language=language, token=token)


# ------------------------------------------------------------------ the work


def verify(op: Operation, progress, after=None) -> dict:
    """Run the checks of ``op``; raise VerificationFailed (with a sentence)
    at the first that fails. Returns the operation's result.

    The stored bytes are hashed while they are restored (read once where
    they stream into the tool, beside it where the tool reads the file):
    the restore does not wait for the checksum, and the checksum still
    decides. Stored bytes that changed fail the verification with that
    sentence whatever the restore made of them, and the scratch is dropped.

    ``after``: a list that receives the dropping of the scratch copy instead
    of doing it here, for the caller to run once the outcome is recorded
    (nobody waits for the files of a test restore to be removed)."""
    backup = Backup.objects.filter(pk=op.backup_id).first()
    if backup is None:
        raise VerificationFailed(N_("The stored backup this verification was started for has been deleted."),
                                 code="backup_missing")
    progress.stage(Stage.VALIDATING, N_("Reading the stored file and comparing its checksum with the catalog."))
    engine = engines.by_format(backup.format)
    target = targets.resolve(op.target_spec)
    scratch = target.scratch(op.id)
    with checked_file(backup, progress) as (path, stored):  # decrypted into scratch space when encrypted
        try:
            Operation.objects.filter(pk=op.pk).update(scratch_name=scratch.name)
            op.scratch_name = scratch.name
            # The server makes the empty scratch copy while the archive is read here.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-scratch") as pool:
                creating = pool.submit(lambda: (scratch.drop(), scratch.create()))
                # From a stream: what can be read without another pass; the rest is checked on the way.
                info = engine.preview(path) if isinstance(path, StreamSource) else engine.inspect(path)
                creating.result()
            progress.check_cancel()
            progress.stage(Stage.RESTORING, N_("Restoring into a scratch copy to check it; no database is replaced."))
            engine.restore(path, info, scratch, progress)
            progress.check_cancel()
            stored.settle(progress)
            progress.event(N_("The stored file has the size and SHA-256 of the catalog."))
            progress.stage(Stage.CHECKING, N_("Comparing the tables and their rows with the catalog."))
            engine.check(info, scratch)
            counted = compare_tables(backup, scratch)
        except Cancelled:
            raise
        except Exception:
            # Changed bytes explain whatever failed on them: that sentence first.
            stored.settle(progress, quiet=True)
            raise
        finally:
            stored.stop()
            if after is None:
                drop_scratch(op, scratch, progress)
            else:
                after.append(lambda: drop_scratch(op, scratch, progress))
    tables = len(backup.tables or {})
    if counted:
        sentence = Message(Np_(
            "The backup is sound: its checksum matches and %(count)s table restored with exactly the rows "
            "the catalog lists.",
            "The backup is sound: its checksum matches and %(count)s tables restored with exactly the rows "
            "the catalog lists."), {"count": tables})
    else:
        sentence = Message(N_("The backup is sound: its checksum matches and it restored; the catalog has no row "
                              "counts to compare with."))
    return {"backup_id": backup.id, "passed": True, "tables": tables, "rows": sum((backup.tables or {}).values()),
            "size": backup.size, "sha256": backup.sha256, "message": sentence.to_json()}


@contextlib.contextmanager
def checked_file(backup: Backup, progress):
    """(the backup's plaintext, its StoredBytes): what the engine reads, and
    the comparison of the stored bytes with the catalog, settled later.
    Local storage: the file where it is (decrypted into scratch space when
    encrypted, as restores do), hashed by a thread meanwhile. Other storage,
    for a format whose tool reads a stream: a StreamSource whose pass into
    the tool is hashed on the way (no local copy, one read). For the others:
    hashed while it is downloaded, so that it is read once."""
    from .store import local_path, stream_source

    storage = get_storage(backup.storage or None)
    try:
        present = storage.exists(backup.storage_name)
    except StorageError as exc:
        raise VerificationFailed(exc.sentence, code=exc.code) from exc
    if not present:
        raise VerificationFailed(N_("The stored file of this backup is missing: %(name)s is not in the %(storage)s "
                                    "storage."), code="backup_file_missing",
                                 params={"name": backup.storage_name, "storage": storage.name})
    stored = StoredBytes(backup, storage)
    try:
        if isinstance(storage, LocalStorage):
            stored.start()
            with local_path(backup) as path:
                yield path, stored
            return
        if engine_streams(backup):
            # The identity is checked before the bytes are read.
            yield stream_source(backup, _Hashing(storage, stored)), stored
            return
        folder = Path(tempfile.mkdtemp(prefix="verify-", dir=conf.data_subdir("tmp")))
        try:
            copy = folder / "stored"
            with open(copy, "wb") as out:
                compare_stored_bytes(backup, storage.open_stream(backup.storage_name), progress, copy_to=out)
            stored.settled = True
            if not backup.encrypted:
                yield copy, stored
                return
            from .encryption import decrypt_to, identity_file

            plain = folder / "backup"
            with open(copy, "rb") as ciphertext:
                decrypt_to(ciphertext, plain, identity_file())
            copy.unlink()
            yield plain, stored
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        stored.stop()


class StoredBytes:
    """The SHA-256 and size of a backup's stored bytes, computed beside its
    test restore, then compared with the catalog by ``settle``: from a
    thread reading the stored file (``start``), or from the pass of a stream
    into the tool (``tee``). Whatever did not hash a whole pass is made up
    for by a pass of its own when settled, so that no check is lost."""

    def __init__(self, backup: Backup, storage):
        self.backup = backup
        self.storage = storage
        self.settled = False
        self._result = None  # (size, hex digest) of one whole pass
        self._error = None
        self._thread = None
        self._stopping = threading.Event()

    def start(self):
        self._thread = threading.Thread(target=self._hash_all, name="verify-sha256", daemon=True)
        self._thread.start()

    def _hash_all(self):
        try:
            for _chunk in self.tee(self.storage.open_stream(self.backup.storage_name)):
                if self._stopping.is_set():
                    return
        except Exception as exc:  # said when settled, as the error of reading the stored file
            self._error = exc

    def tee(self, chunks):
        """``chunks`` passed through, hashed on the way; a pass read to its
        end gives the result."""
        digest, size = hashlib.sha256(), 0
        iterator = iter(chunks)
        try:
            for chunk in iterator:
                digest.update(chunk)
                size += len(chunk)
                yield chunk
        finally:
            closer = getattr(iterator, "close", None)
            if closer is not None:
                closer()
        if self._result is None:
            self._result = (size, digest.hexdigest())

    def stop(self):
        """No more hashing (a cancel, or the end)."""
        self._stopping.set()

    def settle(self, progress, quiet=False):
        """Compare with the catalog (once); raise VerificationFailed when the
        stored bytes changed. ``quiet``: after another failure, a stored file
        that cannot be read now adds nothing to it."""
        if self.settled:
            return
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.2)
            progress.check_cancel()
        try:
            if self._error is not None and not isinstance(self._error, DbkeeperError):
                raise self._error
            if self._error is not None or self._result is None:
                # The thread could not read it, or no pass reached the end: one pass now.
                compare_stored_bytes(self.backup, self.storage.open_stream(self.backup.storage_name), progress)
            else:
                check_size_and_digest(self.backup, *self._result)
        except VerificationFailed:
            self.settled = True
            raise
        except Exception:
            if not quiet:
                raise
            log.warning("the stored file of backup %s could not be read again to explain a failure",
                        self.backup.id, exc_info=True)
        self.settled = True


class _Hashing:
    """A storage whose streams are hashed into ``stored`` as they are read."""

    def __init__(self, storage, stored: StoredBytes):
        self._storage = storage
        self._stored = stored
        self.name = storage.name

    def open_stream(self, name):
        return self._stored.tee(self._storage.open_stream(name))

    def __getattr__(self, attr):
        return getattr(self._storage, attr)


def engine_streams(backup: Backup) -> bool:
    engine = engines.by_format(backup.format)
    return engine is not None and engine.can_stream()


def compare_stored_bytes(backup: Backup, chunks, progress, copy_to=None) -> None:
    """Hash the stored bytes (copying them to ``copy_to`` on the way) and
    compare their size and SHA-256 with the catalog."""
    progress.set_total(backup.size, "bytes")
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
        progress.advance(min(size, backup.size))
        progress.check_cancel()
    check_size_and_digest(backup, size, digest.hexdigest())


def check_size_and_digest(backup: Backup, size: int, sha256: str) -> None:
    if size != backup.size:
        raise VerificationFailed(
            N_("The stored file has changed since the backup was made: it has %(size)s bytes, the catalog says "
               "%(expected)s."), code="size_mismatch", params={"size": size, "expected": backup.size})
    if sha256 != backup.sha256:
        raise VerificationFailed(
            N_("The stored file has changed since the backup was made: its SHA-256 is %(actual)s, the catalog says "
               "%(expected)s."), code="checksum_mismatch",
            params={"actual": sha256, "expected": backup.sha256})


def compare_tables(backup: Backup, scratch) -> bool:
    """Compare the scratch copy's tables and exact row counts with the
    catalog's; False when the catalog has none to compare (an uploaded file,
    or Django fixtures, whose catalog counts objects per model)."""
    expected = backup.tables or {}
    if not expected or backup.format == "django_fixtures":
        return False
    actual = scratch.row_counts()
    missing = sorted(set(expected) - set(actual))
    if missing:
        raise VerificationFailed(Np_("The restored copy is missing %(count)s table of the backup: %(tables)s.",
                                     "The restored copy is missing %(count)s tables of the backup: %(tables)s."),
                                 code="tables_missing", params={"count": len(missing), "tables": shortened(missing, SHOWN)})
    extra = sorted(set(actual) - set(expected))
    if extra:
        raise VerificationFailed(Np_("The restored copy has %(count)s table the catalog does not list: %(tables)s.",
                                     "The restored copy has %(count)s tables the catalog does not list: %(tables)s."),
                                 code="tables_extra", params={"count": len(extra), "tables": shortened(extra, SHOWN)})
    differ = [name for name in sorted(expected) if int(expected[name]) != actual[name]]
    if differ:
        detail = [Message(N_("%(table)s has %(actual)s rows, the catalog says %(expected)s"),
                          {"table": name, "actual": actual[name], "expected": expected[name]})
                  for name in differ]
        raise VerificationFailed(
            Np_("%(count)s table does not have the rows the catalog lists: %(tables)s.",
                "%(count)s tables do not have the rows the catalog lists: %(tables)s."),
            code="row_counts_differ", params={"count": len(differ), "tables": shortened(detail, SHOWN)})
    return True


def drop_scratch(op: Operation, scratch, progress) -> None:
    """Drop the scratch copy whatever happened; a copy that cannot be dropped
    now stays named on the operation, and is said so."""
    try:
        scratch.drop()
    except Exception as exc:
        log.exception("could not drop scratch %s of verification %s", scratch.name, op.id)
        progress.event(N_("The scratch copy %(name)s could not be removed: %(error)s."),
                       params={"name": scratch.name, "error": str(exc)})
        return
    Operation.objects.filter(pk=op.pk).update(scratch_name="")
    op.scratch_name = ""
    progress.event(N_("The scratch copy was removed."))


def record_outcome(op: Operation, passed: bool, sentence: Message) -> None:
    """Note the verification on the backup (a backup deleted meanwhile: nothing to note)."""
    with transaction.atomic(using=Backup.objects.db):
        Backup.objects.filter(pk=op.backup_id).update(
            verified_at=timezone.now(), verification_outcome="passed" if passed else "failed",
            verification_message=sentence.english(), verification_data=sentence.to_json(),
            verification_operation=op.id,
        )


def counts_as_outcome(error) -> bool:
    """Whether an error says something about the backup (recorded on it), not
    about the way to it (a target that cannot be reached, a cancel)."""
    return not isinstance(error, (Cancelled, TargetError)) and getattr(error, "code", "") != "queue_down"


__all__ = ["plan_verify", "start_verify", "verify", "record_outcome", "VerificationFailed"]
