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


def verify(op: Operation, progress) -> dict:
    """Run the checks of ``op``; raise VerificationFailed (with a sentence)
    at the first that fails. Returns the operation's result."""
    backup = Backup.objects.filter(pk=op.backup_id).first()
    if backup is None:
        raise VerificationFailed(N_("The stored backup this verification was started for has been deleted."),
                                 code="backup_missing")
    progress.stage(Stage.VALIDATING, N_("Reading the stored file and comparing its checksum with the catalog."))
    engine = engines.by_format(backup.format)
    target = targets.resolve(op.target_spec)
    scratch = target.scratch(op.id)
    with checked_file(backup, progress) as path:  # decrypted into scratch space when encrypted
        progress.event(N_("The stored file has the size and SHA-256 of the catalog."))
        Operation.objects.filter(pk=op.pk).update(scratch_name=scratch.name)
        op.scratch_name = scratch.name
        # From a stream: what can be read without another pass; the rest is checked on the way.
        info = engine.preview(path) if isinstance(path, StreamSource) else engine.inspect(path)
        progress.check_cancel()
        scratch.drop()
        scratch.create()
        try:
            progress.stage(Stage.RESTORING, N_("Restoring into a scratch copy to check it; no database is replaced."))
            engine.restore(path, info, scratch, progress)
            progress.check_cancel()
            progress.stage(Stage.CHECKING, N_("Comparing the tables and their rows with the catalog."))
            engine.check(info, scratch)
            counted = compare_tables(backup, scratch)
        finally:
            drop_scratch(op, scratch, progress)
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
    """The backup's plaintext, once its stored bytes were compared with the
    catalog. Local storage: the file is hashed where it is (and decrypted into
    scratch space when encrypted, as restores do). Other storage, for a format
    whose tool reads a stream: hashed as it streams past, then streamed again
    into the tool (a StreamSource, no local copy); for the others: hashed while
    it is downloaded, so that it is read once."""
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
    if isinstance(storage, LocalStorage):
        compare_stored_bytes(backup, storage.open_stream(backup.storage_name), progress)
        with local_path(backup) as path:
            yield path
        return
    if engine_streams(backup):
        source = stream_source(backup, storage)  # the identity is checked before the bytes are read
        compare_stored_bytes(backup, storage.open_stream(backup.storage_name), progress)
        yield source
        return
    folder = Path(tempfile.mkdtemp(prefix="verify-", dir=conf.data_subdir("tmp")))
    try:
        stored = folder / "stored"
        with open(stored, "wb") as out:
            compare_stored_bytes(backup, storage.open_stream(backup.storage_name), progress, copy_to=out)
        if not backup.encrypted:
            yield stored
            return
        from .encryption import decrypt_to, identity_file

        plain = folder / "backup"
        with open(stored, "rb") as ciphertext:
            decrypt_to(ciphertext, plain, identity_file())
        stored.unlink()
        yield plain
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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
    if size != backup.size:
        raise VerificationFailed(
            N_("The stored file has changed since the backup was made: it has %(size)s bytes, the catalog says "
               "%(expected)s."), code="size_mismatch", params={"size": size, "expected": backup.size})
    if digest.hexdigest() != backup.sha256:
        raise VerificationFailed(
            N_("The stored file has changed since the backup was made: its SHA-256 is %(actual)s, the catalog says "
               "%(expected)s."), code="checksum_mismatch",
            params={"actual": digest.hexdigest(), "expected": backup.sha256})


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
