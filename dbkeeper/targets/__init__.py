"""Restore targets: resolve a configured name, a Django alias or a URL.

``KINDS`` maps a URL kind (``DbUrl.kind``) to the dotted path of its Target
class, one module per kind: adding a kind is one module and one line here.
"""

from django.conf import settings
from django.utils.module_loading import import_string

from .. import conf
from ..dburl import DbUrl
from ..errors import TargetError
from ..messages import Message, N_

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
    """Name -> spec, from settings and from targets added in the server (their
    URL without the saved password, which only ``resolve`` decrypts). A spec is
    a URL or alias, or a dict: {"url": ..., "trust": "superuser", "owner":
    ROLE, "extensions": [...]}."""
    from .models import Target as TargetRow

    targets = dict(conf.get("TARGETS") or {})
    for row in TargetRow.objects.all():
        targets.setdefault(row.name, row.spec())
    return targets


def _with_saved_password(name: str, spec):
    """``spec`` (a URL, or a dict with one as "url") with the password saved
    for the target ``name`` put back in."""
    from .models import Target as TargetRow

    if name in (conf.get("TARGETS") or {}):
        return spec
    row = TargetRow.objects.filter(name=name).exclude(password_encrypted="").first()
    if row is None:
        return spec
    from .. import secretbox

    url = spec["url"] if isinstance(spec, dict) else spec
    parsed = DbUrl.parse(url)
    password = secretbox.decrypt(row.password_encrypted)
    url = DbUrl(parsed.kind, parsed.name, parsed.user, password, parsed.host, parsed.port, parsed.options).to_url()
    return {**spec, "url": url} if isinstance(spec, dict) else url


def resolve(spec):
    """``spec`` is a target name, ``alias:NAME`` for a Django database alias,
    a database URL, or a dict with one of those as "url" and target options."""
    if isinstance(spec, dict):
        return _with_options(spec)
    spec = (spec or "").strip()
    if not spec:
        raise TargetError(N_("No target database was given."))
    if "://" not in spec and not spec.startswith("alias:"):
        named = configured_targets().get(spec)
        if named is None:
            raise TargetError(N_("There is no target named %(name)s."), params={"name": repr(spec)})
        target = resolve(_with_saved_password(spec, named))
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


def on_server(spec, database: str = ""):
    """The target ``spec`` resolved; with ``database``, that database on the
    same server instead, reached with the target's role and options (a
    restore that creates a new database from a backup)."""
    target = resolve(spec)
    if not database or database == target.name:
        return target
    return target.on_same_server(database)


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

