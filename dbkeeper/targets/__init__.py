"""Restore targets: resolve a configured name, a Django alias or a URL."""

from django.conf import settings

from .. import conf
from ..dburl import DbUrl
from ..errors import TargetError
from ..messages import N_


def _target_for(url: DbUrl, spec: str, options=None):
    if url.kind == "postgresql":
        from .postgres import PostgresTarget

        options = options or {}
        return PostgresTarget(url, spec, trust=options.get("trust", ""), owner=options.get("owner", ""),
                              extensions=options.get("extensions") or ())
    from .sqlite import SqliteTarget

    return SqliteTarget(url, spec)


def configured_targets() -> dict:
    """Name -> spec, from settings and from targets added in the server. A
    spec is a URL or alias, or a dict: {"url": ..., "trust": "superuser",
    "owner": ROLE, "extensions": [...]}."""
    from ..operations.models import Target as TargetRow

    targets = dict(conf.get("TARGETS") or {})
    for row in TargetRow.objects.all():
        targets.setdefault(row.name, row.spec())
    return targets


def resolve(spec):
    """``spec`` is a target name, ``alias:NAME`` for a Django database alias,
    a database URL, or a dict with one of those as "url" and target options."""
    if isinstance(spec, dict):
        return _with_options(spec)
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


TARGET_OPTIONS = ("url", "trust", "owner", "extensions")


def _with_options(spec: dict):
    unknown = sorted(set(spec) - set(TARGET_OPTIONS))
    if unknown:
        raise TargetError(N_("A target's settings have unknown keys: %(keys)s."), params={"keys": unknown})
    if spec.get("trust", "") not in ("", None, "superuser"):
        raise TargetError(N_("A target's trust setting must be \"superuser\" or absent, not %(value)s."),
                          params={"value": repr(spec.get("trust"))})
    extensions = spec.get("extensions") or ()
    if isinstance(extensions, str) or not all(isinstance(e, str) for e in extensions):
        raise TargetError(N_("A target's extensions setting must be a list of extension names."))
    target = resolve(str(spec.get("url") or ""))
    if target.kind == "postgresql":
        target.trust = spec.get("trust") or ""
        target.owner = spec.get("owner") or ""
        target.extensions = tuple(extensions)
    return target
