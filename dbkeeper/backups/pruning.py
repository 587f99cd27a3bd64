"""Retention policies in the catalog, and pruning: which backups a policy
drops (``preview``) and deleting them (``prune``).

Where a policy applies:

- a target's policy (``RetentionPolicy``, ``dbkeeper retention set``) covers
  the backups of that target that no schedule made;
- a schedule's policy covers the backups that schedule made (origin
  ``schedule:<id>``): its run calls ``prune(target, policy=..., tz=...,
  origin="schedule:<id>")`` after a successful backup.

A deletion goes in an order that a crash at any point leaves something the
next prune finishes or ``dbkeeper rescan`` restores, never a catalog row
whose file is silently gone:

1. a ``PendingDeletion`` row is committed (the backup is being deleted);
2. the stored file is deleted (retried on a storage error);
3. the catalog row is deleted;
4. the roles file and the manifest are deleted (retried), then the
   ``PendingDeletion`` row.

When the storage keeps refusing the backup's own file, nothing has changed:
the pending row is removed and the backup stays listed, with its file and
manifest (a later prune tries again). A crash between 2 and 3, or a storage
that refuses the files of step 4, leaves the pending row, and the next prune
finishes that deletion first. A manifest whose backup file is gone is never
turned back into a row by ``rescan``.
"""

import logging
import time
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from .. import conf
from ..access.permissions import require, require_anywhere, target_filter, visible_targets
from ..audit import service as audit
from ..errors import DbkeeperError
from ..messages import Message, N_
from ..operations.models import Operation
from . import retention
from .catalog import manifest_name
from .models import Backup, PendingDeletion, RetentionPolicy
from .storage import get_storage

log = logging.getLogger(__name__)

SCHEDULE_PREFIX = "schedule:"


# -- policies per target ---------------------------------------------------------------------------------------

def _known_target(name) -> str:
    from .. import targets

    name = str(name or "").strip()
    if not name:
        raise DbkeeperError(N_("Choose the target whose retention policy this is."), code="target_required")
    if name not in targets.configured_targets():
        raise DbkeeperError(N_("There is no target named %(name)s."), code="target_unknown", params={"name": name})
    return name


def _allowed(user, perm, target):
    """The CLI (no user) acts as the operator of the installation."""
    if user is not None:
        require(user, perm, target)


def set_policy(target, policy, tz="", user=None) -> RetentionPolicy:
    """Set (replace) the retention policy of a configured target."""
    target = _known_target(target)
    _allowed(user, "manage_schedules", target)
    clean = retention.clean_policy(policy)
    tz = str(tz or "").strip()
    if tz:
        retention.get_zone(tz)
    username = user.get_username() if user is not None else ""
    row, _ = RetentionPolicy.objects.update_or_create(
        target=target, defaults={"policy": clean, "timezone": tz, "updated_at": timezone.now(),
                                 "updated_by": username})
    log.info("retention policy of %s set to %s (time zone %s)", target, clean or "keep everything", tz or "server")
    audit.record("retention.set", user=user, target=target, outcome="ok", details={"policy": clean, "timezone": tz})
    return row


def clear_policy(target, user=None) -> bool:
    target = str(target or "").strip()
    _allowed(user, "manage_schedules", target or None)
    deleted, _ = RetentionPolicy.objects.filter(target=target).delete()
    if not deleted:
        raise DbkeeperError(N_("The target %(name)s has no retention policy."), code="not_found",
                            params={"name": target})
    log.info("retention policy of %s cleared: its backups are kept", target)
    audit.record("retention.clear", user=user, target=target, outcome="ok")
    return True


def policies(target=None) -> list[RetentionPolicy]:
    rows = RetentionPolicy.objects.all()
    if target:
        rows = rows.filter(target=target)
    return list(rows)


# -- planning against the catalog ------------------------------------------------------------------------------

@dataclass
class Group:
    """One policy and the backups it covers, with the decisions."""

    target: str
    policy: dict
    timezone: str
    origin: str = ""  # "": the target's own backups (no schedule); else the schedule's origin
    decisions: list = field(default_factory=list)

    def as_dict(self) -> dict:
        kept = sum(1 for d in self.decisions if d.keep)
        return {"target": self.target, "origin": self.origin, "policy": self.policy, "timezone": self.timezone,
                "kept": kept, "deleted": len(self.decisions) - kept,
                "backups": [d.as_dict() for d in self.decisions]}


def _in_use() -> set:
    """Backups an active restore or verification reads."""
    return set(Operation.objects.filter(status__in=Operation.ACTIVE).exclude(kind=Operation.Kind.BACKUP)
               .exclude(backup_id="").values_list("backup_id", flat=True))


def _rows(target):
    """(id, created_at, pinned, verification_outcome, origin) of a target's
    backups, as plain tuples (no model instances: 100,000 of them stay small)."""
    return Backup.objects.filter(target_spec=target).values_list(
        "id", "created_at", "pinned", "verification_outcome", "origin").iterator(chunk_size=5000)


def _candidates(target, origin=""):
    """The planner's view of ``target``'s backups covered by ``origin`` (""
    the target's own, no schedule's), with the protections computed over all
    of the target's backups (the newest verified one is the target's)."""
    busy = _in_use()
    chosen = []
    newest_verified = None  # (created_at, id)
    for id_, created_at, pinned, outcome, row_origin in _rows(target):
        if outcome == "passed" and (newest_verified is None or (created_at, id_) > newest_verified):
            newest_verified = (created_at, id_)
        covered = row_origin == origin if origin else not row_origin.startswith(SCHEDULE_PREFIX)
        if covered:
            chosen.append(retention.Candidate(id_, created_at, pinned, id_ in busy, False))
    if newest_verified is not None:
        for candidate in chosen:
            if candidate.id == newest_verified[1]:
                candidate.newest_verified = True
                break
    return chosen


def _groups(target=None, policy=None, tz=None, origin=None, now=None) -> list[Group]:
    if policy is not None:
        target = _known_target(target)
        policy = retention.clean_policy(policy)
        zone = str(tz or "")
        groups = [Group(target, policy, zone, origin or "")]
    else:
        rows = policies(target)
        if target and not rows:
            target = _known_target(target)
            rows = [RetentionPolicy(target=target, policy={}, timezone="")]
        groups = [Group(r.target, retention.clean_policy(r.policy), r.timezone, origin or "") for r in rows]
    for group in groups:
        group.decisions = retention.plan(_candidates(group.target, group.origin), group.policy,
                                         retention.get_zone(group.timezone or None), now=now)
    return groups


def preview(target=None, *, policy=None, tz=None, origin=None, user=None, now=None) -> list[Group]:
    """What a prune would keep and delete, and why; changes nothing."""
    if user is not None:
        require_anywhere(user, "backup")  # someone with no right at all is refused, not shown an empty preview
    if target:
        _allowed(user, "backup", str(target).strip())
    groups = _groups(target, policy, tz, origin, now)
    if user is not None and not target:
        allowed = set(visible_targets(user, [g.target for g in groups], perm="backup"))
        groups = [g for g in groups if g.target in allowed]
    return groups


# -- deleting --------------------------------------------------------------------------------------------------

@dataclass
class PruneResult:
    groups: list
    dry_run: bool
    deleted: list = field(default_factory=list)  # backup ids
    failed: list = field(default_factory=list)  # {"id", "error"}
    finished: list = field(default_factory=list)  # pending deletions of an earlier run completed now

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "deleted": self.deleted, "failed": self.failed,
                "finished": self.finished, "groups": [g.as_dict() for g in self.groups]}


def _attempt(what, action):
    """Run ``action`` (a storage call), retried on failure; the last error is raised."""
    attempts = max(1, int(conf.get("RETENTION_DELETE_ATTEMPTS")))
    delay = float(conf.get("RETENTION_RETRY_SECONDS"))
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if attempt == attempts:
                raise
            log.warning("deleting %s failed (attempt %d of %d): %s; trying again", what, attempt, attempts, exc)
            time.sleep(delay * attempt)


def _delete_files(pending: PendingDeletion) -> None:
    storage = get_storage(pending.storage or None)
    for name in filter(None, [pending.storage_name, pending.roles_name, manifest_name(pending.storage_name)]):
        _attempt(f"{name} in the {storage.name} storage", lambda n=name: storage.delete(n))


def finish_pending() -> list[str]:
    """Complete the deletions an earlier prune began and could not end (a
    crash between the file and the row, a storage that refused the roles
    file or the manifest)."""
    done = []
    for pending in PendingDeletion.objects.all():
        backup = Backup.objects.filter(pk=pending.backup_id).first()
        if backup is not None and (backup.pinned or backup.id in _in_use()) and \
                get_storage(pending.storage or None).exists(pending.storage_name):
            # Stopped before its file went, and pinned or in use since: it stays, whole.
            PendingDeletion.objects.filter(pk=pending.pk).delete()
            log.info("deletion of backup %s called off: it is pinned or in use now", pending.backup_id)
            continue
        try:
            _delete_files(pending)
        except Exception:
            log.exception("could not finish deleting backup %s; the next prune tries again", pending.backup_id)
            continue
        with transaction.atomic(using=Backup.objects.db):
            Backup.objects.filter(pk=pending.backup_id).delete()
            PendingDeletion.objects.filter(pk=pending.pk).delete()
        log.info("deletion of backup %s finished (%s)", pending.backup_id, pending.reason)
        done.append(pending.backup_id)
    return done


def _delete(backup_id, reason: str) -> Backup | None:
    """Delete one backup the plan dropped: the pending mark, the stored file,
    the catalog row, then the files beside it (roles, manifest). None if it
    changed meanwhile (pinned, in use, gone). A storage that keeps refusing
    the file raises delete_failed and leaves everything as it was."""
    with transaction.atomic(using=Backup.objects.db):
        backup = Backup.objects.select_for_update().filter(pk=backup_id).first()
        if backup is None or backup.pinned or backup_id in _in_use():
            return None
        pending, _ = PendingDeletion.objects.get_or_create(
            backup_id=backup.id, defaults={"storage": backup.storage, "storage_name": backup.storage_name,
                                           "roles_name": backup.roles_name, "reason": reason})
    storage = get_storage(backup.storage or None)
    try:
        _attempt(f"{backup.storage_name} in the {storage.name} storage",
                 lambda: storage.delete(backup.storage_name))
    except Exception as exc:
        PendingDeletion.objects.filter(pk=pending.pk).delete()
        raise DbkeeperError(N_("Backup %(id)s could not be deleted from the %(storage)s storage: %(error)s. "
                               "It is still listed."), code="delete_failed",
                            params={"id": backup.id, "storage": storage.name,
                                    "error": getattr(exc, "message", str(exc))}) from exc
    # The file is gone: the row goes now (a crash before this line leaves the pending mark,
    # and the next prune removes the row).
    Backup.objects.filter(pk=backup.pk).delete()
    try:
        _delete_files(pending)
    except Exception as exc:
        raise DbkeeperError(N_("Backup %(id)s was deleted, but the %(storage)s storage kept some of the files "
                               "beside it: %(error)s. The next prune removes them."), code="delete_incomplete",
                            params={"id": backup.id, "storage": storage.name,
                                    "error": getattr(exc, "message", str(exc))}) from exc
    PendingDeletion.objects.filter(pk=pending.pk).delete()
    return backup


def prune(target=None, *, policy=None, tz=None, origin=None, dry_run=False, user=None, now=None) -> PruneResult:
    """Delete the backups the retention plan drops (every target with a
    policy, or ``target``; with ``policy``: that policy over ``target``'s
    backups of ``origin``, as a schedule's run does). Each deletion is logged
    and audited with its reason; ``dry_run`` only plans."""
    if target:
        _allowed(user, "manage_schedules", str(target).strip())
    elif user is not None:
        require_anywhere(user, "manage_schedules")  # not an empty prune for someone with no right to prune
    # Deletions an earlier prune left unfinished may be of any target: finished by
    # someone who may prune everywhere (or the command line, or a schedule's run).
    everywhere = user is None or target_filter(user, "manage_schedules") is None
    finished = finish_pending() if everywhere and not dry_run else []
    groups = _groups(target, policy, tz, origin, now)
    if user is not None and not target:
        allowed = set(visible_targets(user, [g.target for g in groups], perm="manage_schedules"))
        groups = [g for g in groups if g.target in allowed]
    result = PruneResult(groups, bool(dry_run), finished=finished)
    if dry_run:
        return result
    for group in groups:
        for decision in group.decisions:
            if decision.keep:
                continue
            sentence = _reason(group)
            reason = sentence.english()
            try:
                backup = _delete(decision.id, reason)
            except DbkeeperError as exc:
                log.error("prune: %s", exc.message)
                result.failed.append({"id": decision.id, "code": exc.code, "error": exc.render()})
                outcome = "partial" if exc.code == "delete_incomplete" else "failed"
                audit.record("prune", user=user, target=group.target, backup=decision.id, outcome=outcome,
                             sentence=exc.sentence, details={"reason": reason, "policy": group.policy})
                continue
            if backup is None:
                log.info("prune: backup %s changed since it was planned (pinned, in use or gone); left alone",
                         decision.id)
                continue
            log.info("prune: deleted backup %s of %s made %s (%s)", backup.id, group.target,
                     backup.created_at.isoformat(), reason)
            audit.record("prune", user=user, target=group.target, backup=backup.id, database=backup.database,
                         outcome="ok", sentence=sentence,
                         details={"reason": reason, "policy": group.policy, "timezone": group.timezone,
                                  "origin": group.origin, "name": backup.name,
                                  "created_at": backup.created_at.isoformat(), "sha256": backup.sha256})
            result.deleted.append(backup.id)
    return result


def _reason(group: Group) -> Message:
    """Why a backup goes: no rule of the group's policy keeps it."""
    return Message(N_("Deleted by the retention policy %(policy)s: no rule keeps it."),
                   {"policy": retention.describe(group.policy)})
