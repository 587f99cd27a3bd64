"""Starting a backup: the one place the CLI, the API and (later) schedules
and the Backups page go through, with the same steps as a restore: plan
(every check, nothing recorded), then launch (record the operation holding
the target's lock, issue its token, queue it). A backup and a restore of one
target share the lock, so they never overlap."""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from .. import conf, targets
from ..access import permissions
from ..errors import DbkeeperError, TargetBusy, TargetError
from ..messages import N_
from ..operations.models import Operation
from . import makers
from .encryption import default_recipients, parse_recipients
from .makers.base import BackupOptions, check_compress
from .making import BackupRequest, check_roles
from .models import new_backup_id
from .storage import get_storage

log = logging.getLogger(__name__)


@dataclass
class BackupPlan:
    target: object  # a resolved target
    maker: object
    storage: object
    request: BackupRequest


@dataclass
class StartedBackup:
    operation: Operation
    token: str = ""


def _is_name(spec: str) -> bool:
    return "://" not in spec and not spec.startswith("alias:")


def plan_backup(target, format=None, storage=None, compress=None, roles=False, role_passwords=False,
                origin="manual", named_only=False, user=None) -> BackupPlan:
    """Check a backup of ``target`` (a configured name; unless ``named_only``
    also ``alias:NAME`` or a database URL): the format fits its kind, the
    storage exists, the compression level is valid, pg_dump is new enough
    for its server. Records nothing. ``user`` needs ``backup`` on the target
    (None: dbkeeper itself, e.g. a schedule)."""
    target = str(target or "").strip()
    if not target:
        raise DbkeeperError(N_("Choose the database to back up."), code="target_required")
    if user is not None and (named_only or _is_name(target)):
        permissions.require(user, "backup", target)
    if (named_only or _is_name(target)) and target not in targets.configured_targets():
        raise TargetError(N_("There is no target named %(name)s."), code="target_unknown", params={"name": target})
    resolved = targets.resolve(target)
    if user is not None and not (named_only or _is_name(target)):
        permissions.require(user, "backup", resolved.display())
    maker = makers.by_format(format) if format else makers.default_for(resolved)
    level = check_compress(conf.get("BACKUP_COMPRESSION") if compress in (None, "") else compress)
    chosen = get_storage(storage or None)
    maker.check(resolved, BackupOptions(compress=level, roles=roles))
    if roles:
        check_roles(resolved)
    origin = str(origin or "manual")[:64]
    recipients = default_recipients()
    parse_recipients(recipients)  # a bad key is refused now, not in the worker
    request = BackupRequest(format=maker.format, storage=chosen.name, compress=level, backup_id=new_backup_id(),
                            origin=origin, roles=bool(roles), role_passwords=bool(role_passwords),
                            recipients=recipients)
    return BackupPlan(resolved, maker, chosen, request)


def record(plan: BackupPlan, user=None) -> Operation:
    """The operation for a plan, holding the target's lock; not queued yet."""
    target = plan.target
    op = Operation(
        kind=Operation.Kind.BACKUP,
        stage=Operation.Stage.BACKING_UP,
        user_id=str(getattr(user, "pk", "") or ""),
        username=getattr(user, "get_username", lambda: "")() if user is not None else "",
        source_name=target.name,
        backup_id=plan.request.backup_id,
        backup_format=plan.maker.engine_format,
        target_spec=target.spec,
        target_display=target.display(),
        lock_key=target.lock_key(),
        message=N_("Waiting for a worker."),
        # What the worker needs to make it; replaced by the outcome when it ends.
        result={"request": plan.request.as_json()},
    )
    try:
        with transaction.atomic(using=Operation.objects.db):
            op.save(force_insert=True)
    except IntegrityError:
        busy = Operation.objects.filter(lock_key=target.lock_key()).first()
        raise TargetBusy(
            N_("%(target)s is busy: %(kind)s %(id)s is %(status)s. A backup waits until it has ended; "
               "try again then."),
            params={"target": target.display(), "kind": busy.kind if busy else "",
                    "id": busy.id if busy else "", "status": busy.status if busy else ""},
        ) from None
    op.add_event(N_("Backup of %(target)s as %(format)s to the %(storage)s storage queued."),
                 params={"target": op.target_display, "format": plan.request.format, "storage": plan.storage.name})
    return op


def launch(plan: BackupPlan, user=None, language="", token=False) -> StartedBackup:
    """Record and queue; a queue that cannot be reached ends the operation as
    failed (freeing the target) and raises queue_down."""
    from ..operations.backup_runner import finish
    from ..operations.service import issue_and_queue

    op = record(plan, user=user)
    raw = issue_and_queue(op, token=token, language=language, finish=finish, queue_down=N_(
        "The backup could not be queued: the task queue is not reachable. Nothing was stored."))
    return StartedBackup(op, raw)


def start_backup(target, format=None, storage=None, user=None, language="", token=False, origin="manual",
                 compress=None, roles=False, role_passwords=False, named_only=False) -> StartedBackup:
    """Check, record and queue a backup: the API's one call."""
    plan = plan_backup(target, format=format, storage=storage, compress=compress, roles=roles,
                       role_passwords=role_passwords, origin=origin, named_only=named_only, user=user)
    return launch(plan, user=user, language=language, token=token)
