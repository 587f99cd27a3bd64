"""Who may do what to which target: the one place every service asks.

The permissions are ``view``, ``backup``, ``restore``, ``manage_databases``,
``manage_targets`` and ``manage_schedules``. A target is named by its
configured name (``Operation.target_spec`` for named targets); ``None`` asks
for the permission on every target (or on no target at all, as for adding
one).

Until per-target grants land, staff and superusers have every permission,
which is what dbkeeper allowed before permissions existed.
"""

from ..errors import DbkeeperError
from ..messages import N_

PERMISSIONS = ("view", "backup", "restore", "manage_databases", "manage_targets", "manage_schedules")


class PermissionRefused(DbkeeperError):
    """Answered as HTTP 403 (code ``forbidden``)."""

    code = "forbidden"


def _active(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def has_perm(user, perm: str, target: str | None = None) -> bool:
    if perm not in PERMISSIONS:
        raise ValueError(f"unknown dbkeeper permission {perm!r}")
    return _active(user) and bool(user.is_superuser or user.is_staff)


def require(user, perm: str, target: str | None = None) -> None:
    """Raise PermissionRefused (403 in the API) unless ``user`` has ``perm`` on ``target``."""
    if not has_perm(user, perm, target):
        if target:
            raise PermissionRefused(
                N_("You may not %(action)s on the target %(target)s."),
                params={"action": perm, "target": target},
            )
        raise PermissionRefused(N_("You may not %(action)s."), params={"action": perm})


def visible_targets(user, names, perm: str = "view") -> list:
    """The names among ``names`` that ``user`` may see (or has ``perm`` on)."""
    return [name for name in names if has_perm(user, perm, name)]
