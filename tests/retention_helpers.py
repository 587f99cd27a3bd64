"""Catalogued backups for the retention tests: a small file written through
the real storage, its manifest beside it, and its catalog row, as making a
backup leaves them (without running a dump for each of hundreds of days)."""

import hashlib
from datetime import datetime, timezone

from dbkeeper.backups.catalog import write_manifest
from dbkeeper.backups.models import Backup, new_backup_id
from dbkeeper.backups.storage import get_storage


def at(text) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def stored_backup(target, created_at, *, origin="manual", pinned=False, verified=False, roles=False) -> Backup:
    storage = get_storage()
    backup_id = new_backup_id()
    created = at(created_at) if isinstance(created_at, str) else created_at
    name = f"{target}/{created.strftime('%Y%m%d-%H%M%S')}-{backup_id}.sqlite3.gz"
    data = f"backup {backup_id} of {target}".encode()
    with storage.writer(name, "op_retention_test") as out:
        out.write(data)
        out.commit()
    roles_name = ""
    if roles:
        roles_name = name + ".roles.sql"
        with storage.writer(roles_name, "op_retention_test") as out:
            out.write(b"-- roles\n")
            out.commit()
    backup = Backup(id=backup_id, name=name.rsplit("/", 1)[-1], storage_name=name, storage=storage.name,
                    size=len(data), sha256=hashlib.sha256(data).hexdigest(), format="sqlite", source="backup",
                    created_at=created, target_spec=target, target_display=target, database=target, origin=origin,
                    pinned=pinned, verification_outcome="passed" if verified else "",
                    verified_at=created if verified else None, roles_name=roles_name)
    write_manifest(storage, backup, "op_retention_test")
    backup.save(force_insert=True)
    return backup


def files_of(backup) -> list[str]:
    """The stored files of ``backup`` that exist (file, roles, manifest)."""
    storage = get_storage(backup.storage or None)
    names = [backup.storage_name, backup.roles_name, backup.storage_name + ".manifest.json"]
    return [n for n in names if n and storage.exists(n)]
