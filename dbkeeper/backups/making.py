"""Making one backup, from the database to the catalog: the maker writes
into the storage's writer (size and SHA-256 computed on the way); only when it
finished cleanly is the file committed, then its manifest, then its catalog
row. Anything that fails before the row exists removes what was committed, so
no half-made backup is ever stored or listed."""

import contextlib
import logging
import hashlib
from dataclasses import asdict, dataclass, field

from django.utils import timezone

from .. import targets
from ..errors import DbkeeperError
from ..messages import N_
from . import makers
from .catalog import write_manifest
from .encryption import EncryptionError, encrypting
from .makers.base import BackupOptions
from .makers.pgdump import write_failed
from .models import Backup
from .storage import get_storage

log = logging.getLogger(__name__)


@dataclass
class BackupRequest:
    """What was asked, as the operation keeps it until a worker runs it."""

    format: str
    storage: str
    compress: int
    backup_id: str
    origin: str = "manual"
    roles: bool = False
    role_passwords: bool = False
    recipients: list = field(default_factory=list)  # age public keys; empty: not encrypted

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "BackupRequest":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def stored_name(backup_id, database, extension, when) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in database.rsplit("/", 1)[-1])[:60] or "db"
    return f"{when:%Y/%m}/{safe}_{when:%Y%m%d_%H%M%S}_{backup_id}{extension}"


def make(op, request: BackupRequest, progress, target=None) -> Backup:
    """Back up ``op``'s target (or ``target``, another database on its server:
    the database manager's safety backup before a drop) as ``request`` says;
    returns the catalog row."""
    target = target or targets.resolve(op.target_spec)
    maker = makers.by_format(request.format)
    storage = get_storage(request.storage)
    options = BackupOptions(compress=request.compress, operation_id=op.id, roles=request.roles,
                            role_passwords=request.role_passwords)
    started = timezone.now()
    recipients = list(request.recipients or [])
    # An encrypted backup says so by its name, as age files do.
    name = stored_name(request.backup_id, target.name, maker.extension, started) + (".age" if recipients else "")
    committed = []
    try:
        roles_name = (name.removesuffix(".age") + ".roles.sql" + (".age" if recipients else "")) if request.roles else ""
        with storage.writer(name, op.id) as out, contextlib.ExitStack() as more:
            try:
                sink = more.enter_context(encrypting(out, recipients)) if recipients else out
                # Unencrypted, the plaintext is what is stored: the writer's own hash is enough.
                plain = _Hashing(sink) if recipients else sink
                made = maker.make(target, plain, progress, options)
                if recipients:
                    sink.close()  # the age stream's last chunk, before the commit
                roles = more.enter_context(storage.writer(roles_name, op.id)) if roles_name else None
                if roles is not None:
                    with (encrypting(roles, recipients) if recipients else contextlib.nullcontext(roles)) as roles_sink:
                        _dump_roles(roles_sink, target, request.role_passwords)
            except OSError as exc:  # the storage's disk (a read error of the source says so itself)
                raise write_failed(exc) from exc
            except EncryptionError as exc:  # the writer behind the encryption failed: say what it was
                if isinstance(exc.__cause__, OSError):
                    raise write_failed(exc.__cause__) from exc
                raise
            # The last moment a cancel is honoured: what follows is quick and must run to its end.
            progress.check_cancel()
            out.commit()
            committed.append(name)
            if roles is not None:
                roles.commit()
                committed.append(roles_name)
        finished = timezone.now()
        details = dict(made.details)
        if recipients:
            # What the decrypted file will be: what a verification compares after decrypting.
            details["plaintext"] = {"size": plain.size, "sha256": plain.sha256.hexdigest()}
        backup = Backup(
            id=request.backup_id, name=name.rsplit("/", 1)[-1], storage_name=name, storage=storage.name,
            size=out.size, sha256=out.sha256, format=maker.engine_format, format_label=maker.label,
            info={"maker": maker.format, **details}, user_id=op.user_id, username=op.username, source="backup",
            created_at=finished, target_spec=op.target_spec, target_display=op.target_display, database=target.name,
            started_at=started, finished_at=finished, duration_seconds=(finished - started).total_seconds(),
            tool_version=made.tool_version, server_version=made.server_version, tables=made.tables,
            origin=request.origin, operation_id=op.id, roles_name=roles_name, recipients=recipients,
        )
        committed.append(write_manifest(storage, backup, op.id))
        backup.save(force_insert=True)
    except BaseException:
        for stored in reversed(committed):
            try:
                storage.delete(stored)
            except Exception:
                log.exception("could not remove %s after a failed backup", stored)
        raise
    log.info("backup %s of %s stored as %s (%s bytes)", backup.id, op.target_display, name, backup.size)
    return backup


class _Hashing:
    """Passes writes on, counting and hashing the plaintext (before encryption)."""

    def __init__(self, out):
        self.out = out
        self.size = 0
        self.sha256 = hashlib.sha256()

    def write(self, data):
        self.sha256.update(data)
        self.size += len(data)
        self.out.write(data)
        return len(data)

    def flush(self):
        pass


def check_roles(target) -> None:
    """Roles can be backed up: a PostgreSQL target, and a pg_dumpall as new as its server."""
    from .makers.pgdump import check_pg_dump_for

    if target.kind != "postgresql":
        raise DbkeeperError(N_("Only a PostgreSQL server has roles to back up."), code="no_roles")
    check_pg_dump_for(target, tool="pg_dumpall")


def _dump_roles(out, target, with_passwords) -> None:
    """The server's roles (pg_dumpall --roles-only) into ``out``; passwords
    left out unless asked for."""
    import subprocess

    from ..procs import Tool
    from .makers.pgdump import tool_version

    path = tool_version("pg_dumpall")[0]
    argv = [path, "--roles-only", "--no-password", f"--database={target.name}"]
    if not with_passwords:
        argv.append("--no-role-passwords")
    tool = Tool(argv, env=target.libpq_env(), stdout=subprocess.PIPE)
    try:
        for chunk in iter(lambda: tool.proc.stdout.read(1 << 20), b""):
            out.write(chunk)
    except BaseException:
        tool.kill()
        raise
    code = tool.wait()
    if code != 0:
        raise DbkeeperError(N_("%(tool)s failed (exit code %(code)s): %(error)s"), code="backup_failed",
                            params={"tool": "pg_dumpall", "code": code, "error": tool.errors() or "no error output"})
