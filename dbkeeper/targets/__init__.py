"""Restore targets: resolve a configured name, a Django alias or a URL."""

from django.conf import settings

from .. import conf
from ..dburl import DbUrl
from ..errors import TargetError
from ..messages import Message, N_


def _target_for(url: DbUrl, spec: str):
    if url.kind == "postgresql":
        from .postgres import PostgresTarget

        return PostgresTarget(url, spec)
    from .sqlite import SqliteTarget

    return SqliteTarget(url, spec)


def configured_targets() -> dict:
    """Name -> spec, from settings and from targets added in the server."""
    from ..operations.models import Target as TargetRow

    targets = dict(conf.get("TARGETS") or {})
    for row in TargetRow.objects.all():
        targets.setdefault(row.name, row.url)
    return targets


def resolve(spec: str):
    """``spec`` is a target name, ``alias:NAME`` for a Django database alias,
    or a database URL."""
    spec = (spec or "").strip()
    if not spec:
        raise TargetError(N_("No target database was given."))
    if "://" not in spec and not spec.startswith("alias:"):
        named = configured_targets().get(spec)
        if named is None:
            raise TargetError(N_("There is no target named %(name)s."), params={"name": repr(spec)})
        target = resolve(named)
        target.spec = spec
        return target
    if spec.startswith("alias:"):
        alias = spec[len("alias:"):]
        if alias not in settings.DATABASES:
            raise TargetError(N_("There is no database alias %(alias)s in this project's DATABASES."), params={"alias": repr(alias)})
        if alias == conf.control_alias():
            raise TargetError(N_("dbkeeper's own database cannot be a restore target."))
        return _target_for(DbUrl.from_django_settings(settings.DATABASES[alias]), spec)
    try:
        return _target_for(DbUrl.parse(spec), spec)
    except ValueError as exc:
        # DbUrl says what is wrong as a phrase (a Message); other ValueErrors in their own words.
        error = exc.args[0] if exc.args and isinstance(exc.args[0], Message) else str(exc)
        raise TargetError(N_("The target URL is not valid: %(error)s."), params={"error": error}) from exc
