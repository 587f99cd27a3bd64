"""Adding and removing restore targets: the rules the web form, the API and
``dbkeeper target add | remove`` share."""

import logging
import re

from .. import secretbox
from ..access import permissions
from ..audit.service import record
from ..dburl import DbUrl
from ..errors import TargetError
from ..messages import N_
from . import configured_targets, resolve
from .models import Target
from .probe import probe

log = logging.getLogger(__name__)

TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def add_target(name, url, user=None, trust="", owner="", extensions=(), check=True) -> dict:
    """Validate and record a target. ``user`` is who asks (they need
    ``manage_targets`` on every target); None is dbkeeper itself.
    ``trust="superuser"`` runs the backups' SQL with the target's own rights:
    only when asked for explicitly. With ``check``, connect first and refuse a
    target a restore could not use; what was found is returned under "found"."""
    if user is not None:
        permissions.require(user, "manage_targets")
    name, url = str(name or "").strip(), str(url or "").strip()
    if not TARGET_NAME.match(name):
        raise TargetError(N_("A target name is 1 to 100 letters, digits, dots, dashes or underscores, "
                             "starting with a letter or digit."), code="bad_target_name")
    if name in configured_targets():
        raise TargetError(N_("There is already a target named %(name)s."), code="target_exists", params={"name": name})
    if "://" not in url:
        raise TargetError(N_("Give the target as a database URL: postgresql://user@host:port/name or "
                             "sqlite:////absolute/path.db"), code="bad_target_url")
    options = {"trust": trust or "", "owner": owner or "", "extensions": list(extensions or ())}
    # raises TargetError with a sentence for a bad URL or option
    target = resolve({"url": url, **options} if any(options.values()) else url)
    found = probe(target) if check else None
    row = Target(name=name, url=target.url.to_url(), **options)
    if target.url.password:
        # Kept encrypted, apart from the URL; a first key is made only if no password was saved before.
        first = not Target.objects.exclude(password_encrypted="").exists()
        row.password_encrypted = secretbox.encrypt(target.url.password, create=first)
        row.url = _without_password(target.url).to_url()
    row.save()
    result = {"name": name, "display": target.display(), "kind": target.kind, "database": target.name,
              "trust": options["trust"], "found": found}
    record("target.add", user=user, target=name, database=target.name, outcome="ok",
           details={"display": target.display(), "kind": target.kind, "trust": options["trust"]})
    return result


def _without_password(url: DbUrl) -> DbUrl:
    return DbUrl(url.kind, url.name, url.user, "", url.host, url.port, url.options)


def remove_target(name, user=None) -> str:
    """Remove a target added on this server (not one from the settings),
    refused while an operation on it runs. ``user`` needs ``manage_targets``
    on it. Its grants stay until revoked (a target added again under that
    name gets them back)."""
    from ..operations.models import Operation

    name = str(name or "").strip()
    if user is not None:
        permissions.require(user, "manage_targets", name)
    row = Target.objects.filter(name=name).first()
    if row is None:
        raise TargetError(N_("There is no target named %(name)s added on this server (targets from the settings "
                             "cannot be removed here)."), code="target_unknown", params={"name": name})
    busy = Operation.objects.filter(target_spec=name, status__in=Operation.ACTIVE).first()
    if busy is not None:
        raise TargetError(N_("Target %(name)s has a restore in progress (%(id)s); wait for it to end or cancel it "
                             "first."), code="target_busy", params={"name": name, "id": busy.id})
    row.delete()
    record("target.remove", user=user, target=name, outcome="ok")
    log.info("target %s removed", name)
    return name
