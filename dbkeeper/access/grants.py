"""Granting and revoking dbkeeper's permissions, globally or on one target.

A global permission is a plain Django permission (``dbkeeper.restore``…),
given to a user or a group in Django's own tables, so that the admin and any
other tool that manages Django permissions sees it. A permission on one
target is a ``TargetGrant`` row in the control database.

Like API tokens, a grant names its user by id and name, not by foreign key:
the user table may live in a database that a restore replaces, and a grant
only counts while the user with that id still has that name. A group is named
by its name."""

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from ..audit.service import record
from ..errors import DbkeeperError
from ..messages import N_
from . import permissions

log = logging.getLogger(__name__)

# The permissions themselves, declared on the grant model so that Django
# creates them (dbkeeper.view, dbkeeper.restore…) for its admin and its groups.
DECLARED = (
    ("view", "See targets, their backups and their operations"),
    ("backup", "Back up targets; pin, verify, download and delete their backups"),
    ("restore", "Restore into targets (and upload backups to restore)"),
    ("manage_databases", "Manage the databases and pre-restore copies of targets"),
    ("manage_targets", "Add, change and remove targets"),
    ("manage_schedules", "Manage backup schedules and retention"),
)


class TargetGrant(models.Model):
    """One permission on one target, for one user or one group (exactly one of the two)."""

    user_id = models.CharField(max_length=64, blank=True, default="")
    username = models.CharField(max_length=150, blank=True, default="")
    group = models.CharField(max_length=150, blank=True, default="")
    permission = models.CharField(max_length=32, choices=[(code, code) for code, _ in DECLARED])
    target = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        app_label = "dbkeeper"
        default_permissions = ()
        permissions = DECLARED
        constraints = [
            models.UniqueConstraint(fields=["user_id", "group", "permission", "target"],
                                    name="dbkeeper_targetgrant_unique"),
        ]
        indexes = [models.Index(fields=["user_id"]), models.Index(fields=["group"])]

    def __str__(self):
        who = f"@{self.group}" if self.group else self.username
        return f"{who} {self.permission} on {self.target}"

    @property
    def holder(self) -> str:
        return f"@{self.group}" if self.group else self.username


def _holder(name: str):
    """A user (``alice``) or a group (``@staff``): (user, None) or (None, group)."""
    name = str(name or "").strip()
    if name.startswith("@"):
        group = Group.objects.filter(name=name[1:]).first()
        if group is None:
            raise DbkeeperError(N_("There is no group named %(name)s."), code="not_found",
                                params={"name": name[1:]})
        return None, group
    User = get_user_model()
    user = User._default_manager.filter(**{User.USERNAME_FIELD: name}).first() if name else None
    if user is None:
        raise DbkeeperError(N_("There is no user named %(name)s; create it first (dbkeeper user add %(name)s)."),
                            code="not_found", params={"name": name})
    return user, None


def _check_permission(perm: str) -> str:
    perm = str(perm or "").strip()
    if perm not in permissions.PERMISSIONS:
        raise DbkeeperError(N_("There is no permission named %(name)s; the permissions are %(names)s."),
                            code="bad_permission", params={"name": perm, "names": ", ".join(permissions.PERMISSIONS)})
    return perm


def _check_target(target: str) -> str:
    from ..targets import configured_targets

    target = str(target or "").strip()
    if target not in configured_targets():
        raise DbkeeperError(N_("There is no target named %(name)s."), code="target_unknown", params={"name": target})
    return target


def _django_permission(perm: str) -> Permission:
    from django.contrib.contenttypes.models import ContentType

    content_type = ContentType.objects.get_for_model(TargetGrant, for_concrete_model=True)
    found, _created = Permission.objects.get_or_create(
        content_type=content_type, codename=perm, defaults={"name": dict(DECLARED)[perm]})
    return found


def _require_manager(by):
    """Only superusers hand out permissions (None: dbkeeper itself)."""
    if by is not None and not (permissions.is_active_user(by) and by.is_superuser):
        raise permissions.PermissionRefused(N_("Only superusers may grant or revoke permissions."))


def grant(holder: str, perm: str, target: str = "", by=None) -> dict:
    """Give ``holder`` (a user name, or @group) ``perm`` on ``target``, or on
    every target when ``target`` is empty. Granting what is held already changes nothing."""
    _require_manager(by)
    perm = _check_permission(perm)
    user, group = _holder(holder)
    target = _check_target(target) if target else ""
    if not target:
        django_perm = _django_permission(perm)
        (user.user_permissions if user is not None else group.permissions).add(django_perm)
        created = True
    else:
        try:
            with transaction.atomic(using=TargetGrant.objects.db):
                TargetGrant.objects.create(
                    user_id=str(user.pk) if user is not None else "", username=user.get_username() if user else "",
                    group=group.name if group is not None else "", permission=perm, target=target,
                    created_by=by.get_username() if by is not None else "")
            created = True
        except IntegrityError:
            created = False
    permissions.forget(user)
    result = _described(user, group, perm, target)
    log.info("permission %s on %s granted to %s", perm, target or "every target", result["holder"])
    record("permission.grant", user=by, target=target, outcome="ok" if created else "unchanged",
           details={"holder": result["holder"], "permission": perm, "scope": result["scope"]})
    return result


def revoke(holder: str, perm: str, target: str = "", by=None) -> dict:
    """Take back ``perm`` on ``target`` (or the global ``perm``) from ``holder``.
    A target that no longer exists may still have grants to take back."""
    _require_manager(by)
    perm = _check_permission(perm)
    user, group = _holder(holder)
    target = str(target or "").strip()
    if not target:
        django_perm = _django_permission(perm)
        related = user.user_permissions if user is not None else group.permissions
        held = related.filter(pk=django_perm.pk).exists()
        related.remove(django_perm)
    else:
        rows = TargetGrant.objects.filter(permission=perm, target=target)
        rows = rows.filter(user_id=str(user.pk)) if user is not None else rows.filter(group=group.name)
        held = bool(rows.delete()[0])
    permissions.forget(user)
    result = _described(user, group, perm, target)
    if not held:
        raise DbkeeperError(N_("%(holder)s does not hold %(permission)s on %(scope)s; nothing was revoked."),
                            code="not_found", params=result_params(result))
    log.info("permission %s on %s revoked from %s", perm, target or "every target", result["holder"])
    record("permission.revoke", user=by, target=target, outcome="ok",
           details={"holder": result["holder"], "permission": perm, "scope": result["scope"]})
    return result


def result_params(result):
    return {"holder": result["holder"], "permission": result["permission"], "scope": result["scope"]}


def _described(user, group, perm, target) -> dict:
    return {"holder": f"@{group.name}" if group is not None else user.get_username(),
            "kind": "group" if group is not None else "user", "permission": perm,
            "target": target or None, "scope": target or "*"}


def all_grants() -> list[dict]:
    """Every permission held: the global ones (Django permissions of users and
    groups) and the grants on one target, sorted by holder."""
    rows = []
    codes = list(permissions.PERMISSIONS)
    User = get_user_model()
    django_perms = Permission.objects.filter(content_type__app_label="dbkeeper", codename__in=codes)
    for user in User._default_manager.filter(user_permissions__in=django_perms).distinct():
        for perm in user.user_permissions.filter(pk__in=django_perms).values_list("codename", flat=True):
            rows.append({"holder": user.get_username(), "kind": "user", "permission": perm, "target": None,
                         "scope": "*"})
    for group in Group.objects.filter(permissions__in=django_perms).distinct():
        for perm in group.permissions.filter(pk__in=django_perms).values_list("codename", flat=True):
            rows.append({"holder": f"@{group.name}", "kind": "group", "permission": perm, "target": None,
                         "scope": "*"})
    for row in TargetGrant.objects.all():
        rows.append({"holder": row.holder, "kind": "group" if row.group else "user", "permission": row.permission,
                     "target": row.target, "scope": row.target, "created_at": row.created_at.isoformat(),
                     "created_by": row.created_by})
    order = {code: i for i, code in enumerate(codes)}
    rows.sort(key=lambda r: (r["holder"].lower(), r["target"] or "", order.get(r["permission"], 99)))
    return rows
