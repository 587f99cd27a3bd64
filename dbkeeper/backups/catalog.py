"""The catalog of backups and its copy in the storage: beside each backup
dbkeeper made, a small manifest (``<name>.manifest.json``) holds the catalog
fields, so that ``rescan`` rebuilds the rows of a lost control database from
the storage alone."""

import json
import logging
from datetime import datetime

from django.db import IntegrityError, transaction

from .models import Backup
from .storage import get_storage

log = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_VERSION = 1
# Catalog fields copied into the manifest (the storage's own facts, name and
# storage, come from where the manifest is found).
FIELDS = [
    "id", "name", "size", "sha256", "format", "format_label", "info", "recipients", "user_id", "username", "source",
    "created_at", "target_spec", "target_display", "database", "started_at", "finished_at", "duration_seconds",
    "tool_version", "server_version", "tables", "origin", "operation_id", "roles_name",
]
DATES = {"created_at", "started_at", "finished_at"}


def manifest_name(storage_name: str) -> str:
    return storage_name + MANIFEST_SUFFIX


def manifest_of(backup: Backup) -> dict:
    data = {"dbkeeper_manifest": MANIFEST_VERSION, "storage_name": backup.storage_name}
    for field in FIELDS:
        value = getattr(backup, field)
        data[field] = value.isoformat() if isinstance(value, datetime) else value
    # A URL target's spec may hold a password: the manifest keeps what is safe to show.
    if "://" in (backup.target_spec or ""):
        data["target_spec"] = backup.target_display
    return data


def write_manifest(storage, backup: Backup, operation_id) -> str:
    """Store the manifest of ``backup`` (committed as a whole, like the backup)."""
    name = manifest_name(backup.storage_name)
    with storage.writer(name, operation_id) as out:
        out.write(json.dumps(manifest_of(backup), indent=2, sort_keys=True).encode())
        out.commit()
    return name


def backup_from_manifest(data: dict, storage_name: str, storage) -> Backup:
    values = {field: data[field] for field in FIELDS if field in data}
    for field in DATES & values.keys():
        values[field] = datetime.fromisoformat(values[field]) if values[field] else None
    return Backup(**values, storage_name=storage_name, storage=storage.name)


def rescan(storage_name=None) -> dict:
    """Add a catalog row for every manifest in the storage whose backup is
    there (same size) and has no row; returns what it found and did."""
    storage = get_storage(storage_name)
    found, added, skipped = 0, [], []
    names = set(storage.list_names())
    for name in sorted(n for n in names if n.endswith(MANIFEST_SUFFIX)):
        found += 1
        stored = name[: -len(MANIFEST_SUFFIX)]
        try:
            data = json.loads(b"".join(storage.open_stream(name)))
            if not isinstance(data, dict) or data.get("dbkeeper_manifest") != MANIFEST_VERSION:
                raise ValueError("not a dbkeeper manifest")
        except ValueError as exc:
            log.warning("rescan: %s is not a readable manifest (%s); skipped", name, exc)
            skipped.append({"name": name, "reason": "unreadable manifest"})
            continue
        if Backup.objects.filter(pk=data.get("id")).exists() or Backup.objects.filter(storage_name=stored).exists():
            continue
        if stored not in names:
            skipped.append({"name": name, "reason": "backup file missing"})
            continue
        if storage.size(stored) != data.get("size"):
            skipped.append({"name": name, "reason": "size differs from the manifest"})
            continue
        try:
            with transaction.atomic(using=Backup.objects.db):
                backup_from_manifest(data, stored, storage).save(force_insert=True)
        except IntegrityError:  # another rescan added it meanwhile
            continue
        added.append(data["id"])
        log.info("rescan: catalog row %s rebuilt from %s", data["id"], name)
    return {"storage": storage.name, "manifests": found, "added": added, "skipped": skipped}


def listed(target="", origin="", since=None, limit=None, user=None):
    """Catalog rows, newest first; ``target`` matches the target's name, spec
    or display; ``origin`` "manual", "schedule" (any schedule) or exact.
    ``user``: only the backups of targets they may see (and those made of no
    target, such as uploads, when they may see some target)."""
    rows = Backup.objects.all()
    if user is not None:
        from django.db.models import Q

        from ..access import permissions

        permissions.require_anywhere(user, "view")
        names = permissions.target_filter(user, "view")
        if names is not None:
            rows = rows.filter(Q(target_spec__in=names) | Q(target_spec=""))
    if target:
        from django.db.models import Q

        rows = rows.filter(Q(target_spec=target) | Q(target_display=target) | Q(database=target))
    if origin:
        rows = rows.filter(origin__startswith="schedule:") if origin == "schedule" else rows.filter(origin=origin)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    return list(rows[:limit] if limit else rows)
