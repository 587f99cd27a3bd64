"""Restore targets: resolve a configured name, a Django alias or a URL.

``KINDS`` maps a URL kind (``DbUrl.kind``) to the dotted path of its Target
class, one module per kind: adding a kind is one module and one line here.
"""

from django.conf import settings
from django.utils.module_loading import import_string

from .. import conf
from ..dburl import DbUrl
from ..errors import TargetError
from ..messages import N_

KINDS = {
    "postgresql": "dbkeeper.targets.postgres.PostgresTarget",
    "sqlite": "dbkeeper.targets.sqlite.SqliteTarget",
}


def target_class(kind: str):
    """The Target class for URLs of ``kind``."""
    path = KINDS.get(kind)
    if path is None:
        raise TargetError(N_("Databases of kind %(kind)s cannot be restore targets."), params={"kind": kind})
    return import_string(path)


def _target_for(url: DbUrl, spec: str):
    return target_class(url.kind)(url, spec)


def configured_targets() -> dict:
    """Name -> spec, from settings and from targets added in the server."""
    from .models import Target as TargetRow

    targets = dict(conf.get("TARGETS") or {})
    for row in TargetRow.objects.all():
        targets.setdefault(row.name, row.url)
    return targets


def resolve(spec: str):
    """``spec`` is a target name, ``alias:NAME`` for a Django database alias,
    or a database URL."""
    spec = (spec or "").strip()
    if not spec:
        raise TargetError("No target database was given.")
    if "://" not in spec and not spec.startswith("alias:"):
        named = configured_targets().get(spec)
        if named is None:
            raise TargetError(f"There is no target named {spec!r}.")
        target = resolve(named)
        target.spec = spec
        return target
    if spec.startswith("alias:"):
        alias = spec[len("alias:"):]
        if alias not in settings.DATABASES:
            raise TargetError(f"There is no database alias {alias!r} in this project's DATABASES.")
        if alias == conf.control_alias():
            raise TargetError("dbkeeper's own database cannot be a restore target.")
        return _target_for(DbUrl.from_django_settings(settings.DATABASES[alias]), spec)
    try:
        return _target_for(DbUrl.parse(spec), spec)
    except ValueError as exc:
        raise TargetError(f"The target URL is not valid: {exc}.") from exc
