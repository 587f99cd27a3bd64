"""Who may do what to which target: the one place every service asks.

The permissions are ``view``, ``backup``, ``restore``, ``manage_databases``,
``manage_targets`` and ``manage_schedules``. A target is named by its
configured name (``Operation.target_spec`` for named targets); ``None`` asks
for the permission on every target (or on no target at all, as for adding
one).

Where a user's rights come from:

- a superuser has every permission on every target;
- a Django permission (``dbkeeper.restore``…, declared on
  ``grants.TargetGrant``), given to the user or one of their groups, applies
  to every target;
- a ``TargetGrant`` row (``dbkeeper grant USER|@GROUP PERM --target T``)
  applies to that one target;
- plain staff (``is_staff``) have the permissions listed in
  ``DBKEEPER["STAFF_PERMISSIONS"]`` on every target: by default all but
  ``manage_targets``, which is what dbkeeper allowed staff before permissions
  existed (adding a target was for superusers). Set it to ``[]`` to make
  grants the only way in.

Any permission on a target also lets one see it (``view``). A grant does
not need ``is_staff``: any active user with a permission may use
the pages and the API for what it allows. An inactive user has none.

A user's rights are read once per user object (one query on the user's
database for their Django permissions and groups, one on the control
database for their grants) and kept on it, so that a request asks the
databases once however many targets it checks.
"""

import logging
from dataclasses import dataclass, field

from .. import conf
from ..errors import DbkeeperError
from ..messages import N_

log = logging.getLogger(__name__)

PERMISSIONS = ("view", "backup", "restore", "manage_databases", "manage_targets", "manage_schedules")
CACHE_ATTRIBUTE = "_dbkeeper_rights"

# The refusal of each permission, as a whole sentence (translated as a whole):
# on one target, and on every target (or none, as for adding one).
REFUSED_ON_TARGET = {
    "view": N_("You may not see the target %(target)s."),
    "backup": N_("You may not back up the target %(target)s or manage its backups."),
    "restore": N_("You may not restore into the target %(target)s."),
    "manage_databases": N_("You may not manage the databases of the target %(target)s."),
    "manage_targets": N_("You may not change or remove the target %(target)s."),
    "manage_schedules": N_("You may not manage the backup schedules of the target %(target)s."),
}
REFUSED = {
    "view": N_("You may not see targets, backups or operations. Ask an administrator for a permission."),
    "backup": N_("You may not back up databases or manage backups. Ask an administrator for a permission."),
    "restore": N_("You may not restore databases or upload backups. Ask an administrator for a permission."),
    "manage_databases": N_("You may not manage databases. Ask an administrator for a permission."),
    "manage_targets": N_("You may not add, change or remove targets. Ask an administrator for a permission."),
    "manage_schedules": N_("You may not manage backup schedules. Ask an administrator for a permission."),
}


class PermissionRefused(DbkeeperError):
    """Answered as HTTP 403 (code ``forbidden``)."""

    code = "forbidden"


@dataclass(frozen=True)
class Rights:
    """What one user may do: ``everywhere`` on every target, ``on`` one target each."""

    everywhere: frozenset = frozenset()
    on: dict = field(default_factory=dict)  # target name -> frozenset of permissions

    # Any permission on a target lets one see it (pick it, see its backups and operations).

    def _holds(self, perm, perms) -> bool:
        return bool(perms) if perm == "view" else perm in perms

    def allows(self, perm, target=None) -> bool:
        return self._holds(perm, self.everywhere) or (bool(target) and self._holds(perm, self.on.get(target, ())))

    def anywhere(self, perm) -> bool:
        return self._holds(perm, self.everywhere) or any(self._holds(perm, perms) for perms in self.on.values())

    def targets(self, perm) -> frozenset:
        """The targets on which ``perm`` was granted one by one (beside ``everywhere``)."""
        return frozenset(name for name, perms in self.on.items() if self._holds(perm, perms))


NOTHING = Rights()
EVERYTHING = Rights(frozenset(PERMISSIONS))


def is_active_user(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def _staff_permissions() -> frozenset:
    configured = conf.get("STAFF_PERMISSIONS")
    return frozenset(p for p in (configured or ()) if p in PERMISSIONS)


def _read(user) -> Rights:
    from django.contrib.auth.models import Permission
    from django.db.models import CharField, Value

    from .grants import TargetGrant

    everywhere = set(_staff_permissions()) if user.is_staff else set()
    groups = []
    if hasattr(user, "user_permissions") and hasattr(user, "groups"):
        # One query: the user's own dbkeeper permissions, their groups' ones, and their groups' names.
        kind = {"output_field": CharField()}
        own = user.user_permissions.filter(content_type__app_label="dbkeeper", codename__in=PERMISSIONS)
        by_group = Permission.objects.filter(content_type__app_label="dbkeeper", codename__in=PERMISSIONS,
                                             group__in=user.groups.all())
        rows = (own.order_by().annotate(kind=Value("perm", **kind)).values_list("kind", "codename")
                .union(by_group.order_by().annotate(kind=Value("perm", **kind)).values_list("kind", "codename"),
                       user.groups.order_by().annotate(kind=Value("group", **kind)).values_list("kind", "name"),
                       all=True))
        for what, name in rows:
            (everywhere.add if what == "perm" else groups.append)(name)
    on = {}
    from django.db.models import Q

    holders = Q(user_id=str(user.pk), username=user.get_username(), group="")
    if groups:
        holders |= Q(group__in=groups, user_id="")
    for perm, target in TargetGrant.objects.filter(holders).values_list("permission", "target"):
        on.setdefault(target, set()).add(perm)
    return Rights(frozenset(everywhere), {name: frozenset(perms) for name, perms in on.items()})


def rights(user) -> Rights:
    """The user's rights, read once per user object."""
    if not is_active_user(user):
        return NOTHING
    if user.is_superuser:
        return EVERYTHING
    cached = getattr(user, CACHE_ATTRIBUTE, None)
    if cached is None:
        cached = _read(user)
        try:
            setattr(user, CACHE_ATTRIBUTE, cached)
        except AttributeError:  # a user object that keeps no attributes: read each time
            pass
    return cached


def forget(user) -> None:
    """Read ``user``'s rights again next time (after a grant or revoke)."""
    if user is not None and hasattr(user, CACHE_ATTRIBUTE):
        delattr(user, CACHE_ATTRIBUTE)


def _check(perm):
    if perm not in PERMISSIONS:
        raise ValueError(f"unknown dbkeeper permission {perm!r}")


def has_perm(user, perm: str, target: str | None = None) -> bool:
    """Whether ``user`` has ``perm`` on ``target`` (None: on every target)."""
    _check(perm)
    return rights(user).allows(perm, target)


def has_perm_anywhere(user, perm: str) -> bool:
    """Whether ``user`` has ``perm`` on at least one target."""
    _check(perm)
    return rights(user).anywhere(perm)


def may_use(user) -> bool:
    """Whether ``user`` has any dbkeeper permission at all (may open its pages)."""
    return any(rights(user).anywhere(perm) for perm in PERMISSIONS)


def refusal(perm: str, target: str | None = None) -> PermissionRefused:
    _check(perm)
    if target:
        return PermissionRefused(REFUSED_ON_TARGET[perm], params={"target": target})
    return PermissionRefused(REFUSED[perm])


def require(user, perm: str, target: str | None = None) -> None:
    """Raise PermissionRefused (403 in the API) unless ``user`` has ``perm`` on ``target``."""
    if not has_perm(user, perm, target):
        log.info("refused %s on %s to %s", perm, target or "every target",
                 user.get_username() if hasattr(user, "get_username") else "nobody")
        raise refusal(perm, target)


def require_anywhere(user, perm: str) -> None:
    """Raise PermissionRefused unless ``user`` has ``perm`` on at least one target (a list, a page)."""
    if not has_perm_anywhere(user, perm):
        raise refusal(perm)


def visible_targets(user, names, perm: str = "view") -> list:
    """The names among ``names`` that ``user`` may see (or has ``perm`` on)."""
    _check(perm)
    allowed = rights(user)
    return [name for name in names if allowed.allows(perm, name)]


def target_filter(user, perm: str = "view"):
    """For filtering a query: None when ``user`` has ``perm`` on every target,
    else the set of target names they have it on (maybe empty)."""
    _check(perm)
    allowed = rights(user)
    return None if allowed.allows(perm) else set(allowed.targets(perm))


def target_of(spec: str, display: str = "") -> str:
    """The name permissions know a target by: its configured name, or (for a
    database URL, which no grant names) the URL without its password."""
    return display if "://" in (spec or "") else (spec or display or "")


def require_on(user, perm: str, spec: str, display: str = "") -> None:
    """``require`` for something recorded with a target spec (an operation, a
    backup); one recorded without a target (an uploaded backup) asks for
    ``perm`` on at least one target."""
    name = target_of(spec, display)
    if name:
        require(user, perm, name)
    else:
        require_anywhere(user, perm)


def may_on(user, perm: str, spec: str, display: str = "") -> bool:
    name = target_of(spec, display)
    return has_perm(user, perm, name) if name else has_perm_anywhere(user, perm)
