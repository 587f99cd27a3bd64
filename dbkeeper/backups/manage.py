"""Pinning and deleting catalogued backups. A delete removes the stored
file, its roles file, its manifest and its catalog row together, or (when the
storage refuses) none of them."""

import logging

from django.db import transaction

from ..access import permissions
from ..audit import service as audit
from ..errors import DbkeeperError
from ..messages import N_
from ..operations.models import Operation
from .catalog import manifest_name, write_manifest
from .models import Backup
from .storage import get_storage

log = logging.getLogger(__name__)


def _backup(backup_id, lock=False) -> Backup:
    rows = Backup.objects.select_for_update() if lock else Backup.objects
    backup = rows.filter(pk=str(backup_id or "").strip()).first()
    if backup is None:
        raise DbkeeperError(N_("There is no stored backup with that id."), code="backup_missing")
    return backup


def visible(backup_id, user=None, perm="view") -> Backup:
    """The backup, if ``user`` has ``perm`` on its target (None: dbkeeper itself)."""
    backup = _backup(backup_id)
    if user is not None:
        permissions.require_on(user, perm, backup.target_spec, backup.target_display)
    return backup


def downloadable(backup_id, user=None) -> Backup:
    """A download hands over the whole database: it needs ``backup`` on its target."""
    return visible(backup_id, user, "backup")


def set_pinned(backup_id, pinned: bool, user=None) -> Backup:
    """Pin (kept whatever any clean-up says; not deletable until unpinned) or unpin."""
    backup = visible(backup_id, user, "backup")
    Backup.objects.filter(pk=backup.pk).update(pinned=bool(pinned))
    backup.pinned = bool(pinned)
    log.info("backup %s %s", backup.id, "pinned" if pinned else "unpinned")
    audit.record("backup.pin" if pinned else "backup.unpin", user=user, backup=backup.id,
                 target=audit.target_label(backup.target_spec, backup.target_display), outcome="ok")
    return backup


def delete_backup(backup_id, confirm, user=None) -> Backup:
    """Delete a backup whose id was typed as ``confirm``. Refused while it is
    pinned or an active restore or verification reads it."""
    with transaction.atomic(using=Backup.objects.db):
        backup = _backup(backup_id, lock=True)
        if user is not None:
            permissions.require_on(user, "backup", backup.target_spec, backup.target_display)
        if str(confirm or "").strip() != backup.id:
            raise DbkeeperError(N_("To confirm that backup %(id)s will be deleted, type its id exactly."),
                                code="not_confirmed", params={"id": backup.id})
        if backup.pinned:
            raise DbkeeperError(N_("Backup %(id)s is pinned; unpin it before deleting it."), code="backup_pinned",
                                params={"id": backup.id})
        busy = Operation.objects.filter(backup_id=backup.id, status__in=Operation.ACTIVE).exclude(
            kind=Operation.Kind.BACKUP).first()
        if busy is not None:
            raise DbkeeperError(N_("Backup %(id)s is in use by %(kind)s %(operation)s; delete it when that has ended."),
                                code="backup_in_use", params={"id": backup.id, "kind": busy.kind,
                                                             "operation": busy.id})
        storage = get_storage(backup.storage or None)
        manifest = manifest_name(backup.storage_name)
        had_manifest = storage.exists(manifest)
        # Through the queryset, so that ``backup`` keeps its id (for the manifest and the sentences).
        Backup.objects.filter(pk=backup.pk).delete()  # not committed until the files are gone
        # The manifest first: it can be written again from the row if the file stays.
        if had_manifest:
            storage.delete(manifest)
        try:
            if backup.roles_name:
                storage.delete(backup.roles_name)
            storage.delete(backup.storage_name)
        except Exception as exc:
            log.exception("could not delete the stored file of backup %s", backup.id)
            if had_manifest:
                try:
                    write_manifest(storage, backup, f"delete-{backup.id}")
                except Exception:
                    log.exception("could not write the manifest of backup %s again", backup.id)
            raise DbkeeperError(N_("Backup %(id)s could not be deleted from the %(storage)s storage: %(error)s. "
                                   "It is still listed."), code="delete_failed",
                                params={"id": backup.id, "storage": storage.name,
                                        "error": getattr(exc, "message", str(exc))}) from exc
    log.info("backup %s deleted (%s in the %s storage)", backup.id, backup.storage_name, storage.name)
    audit.record("backup.delete", user=user, backup=backup.id, outcome="ok",
                 target=audit.target_label(backup.target_spec, backup.target_display),
                 details={"name": backup.name, "storage": storage.name, "sha256": backup.sha256})
    return backup
