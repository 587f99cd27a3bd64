"""Retention of pre-restore copies, and the space a restore will take.

Each restore keeps the database it replaced as a pre-restore copy
(``PreRestoreCopy``). A copy is kept while it is among the last
``PRERESTORE_KEEP_LAST`` copies of its target or younger than
``PRERESTORE_KEEP_DAYS`` days (either is enough); the others are dropped by
the watchdog (at most once a minute) and by ``dbkeeper prerestore prune``,
never while an operation of that target is queued or running, each drop
logged and audited with its reason."""

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from .. import conf, targets
from ..audit import service as audit
from ..errors import DbkeeperError
from ..messages import Message, N_, Np_
from .models import Operation, PreRestoreCopy

log = logging.getLogger(__name__)

# The watchdog prunes at most this often.
PRUNE_EVERY_SECONDS = 60
_last_run = {"at": None}
_lock = threading.Lock()


@dataclass
class CopyDecision:
    copy: PreRestoreCopy
    keep: bool
    reasons: list = field(default_factory=list)  # Messages

    def as_dict(self) -> dict:
        c = self.copy
        return {"name": c.name, "target": c.target_display, "created_at": c.created_at.isoformat(),
                "operation": c.operation_id, "keep": self.keep, "action": "keep" if self.keep else "drop",
                "reasons": [m.render() for m in self.reasons]}


def _busy_targets() -> tuple[set, set]:
    """(target specs, lock keys) of the operations queued or running now."""
    specs, keys = set(), set()
    for spec, key in Operation.objects.filter(status__in=Operation.ACTIVE).values_list("target_spec", "lock_key"):
        specs.add(spec)
        if key:
            keys.add(key)
    return specs, keys


def _lock_key(spec):
    try:
        return targets.resolve(spec).lock_key()
    except Exception:  # a target removed since: its copies are matched by spec only
        return None


def plan_copies(now=None) -> list[CopyDecision]:
    """Keep or drop, and why, for every pre-restore copy still there (newest first per target)."""
    now = now or timezone.now()
    keep_last = int(conf.get("PRERESTORE_KEEP_LAST"))
    keep_days = float(conf.get("PRERESTORE_KEEP_DAYS"))
    young = now - timedelta(days=keep_days)
    busy_specs, busy_keys = _busy_targets()
    by_target = defaultdict(list)
    for copy in PreRestoreCopy.objects.filter(dropped_at__isnull=True).order_by("-created_at", "-id"):
        by_target[copy.target_spec].append(copy)
    decisions = []
    for spec, copies in by_target.items():
        in_use = spec in busy_specs or (bool(busy_keys) and _lock_key(spec) in busy_keys)
        for index, copy in enumerate(copies):
            reasons = []
            if index < keep_last:
                reasons.append(Message(Np_("the last %(count)s copy of its target",
                                           "the last %(count)s copies of its target"), {"count": keep_last}))
            if copy.created_at > young:
                reasons.append(Message(Np_("younger than %(count)s day", "younger than %(count)s days"),
                                       {"count": int(keep_days) if keep_days == int(keep_days) else keep_days}))
            if in_use and not reasons:
                reasons.append(Message(N_("in use: an operation of its target is queued or running")))
            decisions.append(CopyDecision(copy, bool(reasons), reasons))
    return decisions


def prune_copies(dry_run=False, user=None, now=None) -> dict:
    """Drop the copies the rules no longer keep; returns the decisions and what was dropped."""
    if user is not None:
        from ..access.permissions import require

        require(user, "manage_databases")
    decisions = plan_copies(now)
    dropped, failed = [], []
    if not dry_run:
        for decision in decisions:
            if decision.keep:
                continue
            copy = decision.copy
            reason = Message(N_("Pre-restore copy %(name)s dropped: it is neither among the last %(last)s copies "
                                "of its target nor younger than %(days)s days."),
                             {"name": copy.name, "last": conf.get("PRERESTORE_KEEP_LAST"),
                              "days": conf.get("PRERESTORE_KEEP_DAYS")})
            try:
                _drop(copy)
            except Exception as exc:
                error = exc.render() if isinstance(exc, DbkeeperError) else str(exc)
                log.error("could not drop the pre-restore copy %s of %s: %s", copy.name, copy.target_display, error)
                failed.append({"name": copy.name, "error": error})
                audit.record("prerestore.drop", user=user, target=audit.target_label(copy.target_spec,
                                                                                      copy.target_display),
                             database=copy.name, outcome="failed", details={"error": error})
                continue
            log.info("%s", reason.english())
            audit.record("prerestore.drop", user=user, target=audit.target_label(copy.target_spec, copy.target_display),
                         database=copy.name, outcome="ok", sentence=reason,
                         details={"reason": reason.english(), "created_at": copy.created_at.isoformat(),
                                  "operation": copy.operation_id or ""})
            dropped.append(copy.name)
    return {"dry_run": bool(dry_run), "dropped": dropped, "failed": failed,
            "copies": [d.as_dict() for d in decisions]}


def _drop(copy: PreRestoreCopy) -> None:
    """Drop it, checking at the last moment that no operation of its target started meanwhile."""
    busy_specs, busy_keys = _busy_targets()
    target = targets.resolve(copy.target_spec)
    if copy.target_spec in busy_specs or target.lock_key() in busy_keys:
        raise DbkeeperError(N_("An operation of %(target)s started meanwhile; the copy is dropped later."),
                            code="target_busy", params={"target": copy.target_display})
    target.drop_named(copy.name)
    PreRestoreCopy.objects.filter(pk=copy.pk).update(dropped_at=timezone.now())


def maybe_prune(now_monotonic=None) -> dict | None:
    """The watchdog's call: prune at most once every PRUNE_EVERY_SECONDS."""
    moment = time.monotonic() if now_monotonic is None else now_monotonic
    with _lock:
        last = _last_run["at"]
        if last is not None and moment - last < PRUNE_EVERY_SECONDS:
            return None
        _last_run["at"] = moment
    return prune_copies()


# -- the space a restore takes ---------------------------------------------------------------------------------

@dataclass
class RestoreSpace:
    scratch_bytes: int  # the scratch copy: about the backup's data
    copies_bytes: int  # the pre-restore copies of the target kept now
    copies: int
    live_bytes: int | None  # the current database, kept as one more copy after the swap

    def sentence(self) -> Message:
        from ..streams import human_size

        return Message(Np_(
            "The scratch copy takes about %(scratch)s while the restore runs; the %(count)s pre-restore copy kept "
            "of this target takes %(copies)s, and the current database (%(live)s) is kept as one more.",
            "The scratch copy takes about %(scratch)s while the restore runs; the %(count)s pre-restore copies "
            "kept of this target take %(copies)s, and the current database (%(live)s) is kept as one more."),
            {"scratch": human_size(self.scratch_bytes), "count": self.copies, "copies": human_size(self.copies_bytes),
             "live": human_size(self.live_bytes or 0)})

    def as_dict(self) -> dict:
        return {"scratch_bytes": self.scratch_bytes, "prerestore_bytes": self.copies_bytes,
                "prerestore_copies": self.copies, "live_bytes": self.live_bytes, "text": self.sentence().render()}


def data_size(backup) -> int:
    """The backup's data as its info gives it (the plaintext of an encrypted one)."""
    info = backup.info or {}
    return int((info.get("plaintext") or {}).get("size") or info.get("size") or backup.size or 0)


def restore_space(target, backup) -> RestoreSpace:
    """What restoring ``backup`` (a catalog row) into ``target`` (resolved)
    will take: the scratch copy and the pre-restore copies kept."""
    kept = [d.copy for d in plan_copies() if d.keep and d.copy.target_spec == target.spec]
    sizes = [target.database_size(c.name) or 0 for c in kept]
    live = target.database_size(target.name) if target.exists() else None
    return RestoreSpace(data_size(backup), sum(sizes), len(kept), live)


def restore_space_for(target_name, backup_id) -> RestoreSpace:
    """``restore_space`` for a configured target and a stored backup, checked as a restore plan is."""
    from .service import plan_restore

    plan = plan_restore(target_name, backup_id=backup_id, named_only=True)
    return restore_space(plan.target, plan.backup)
