"""Django fixtures (``dumpdata`` JSON, raw or gzipped) as a restore format.

The scratch database gets the host project's migrations, then the objects are
loaded from the file as it streams (never the whole file in memory), in bulk,
in one transaction whose foreign keys are checked before it commits.
"""

import logging
import re
from pathlib import Path

from django.apps import apps

from ..errors import BackupRejected, CheckFailed
from ..messages import N_, Np_, shortened
from ..router import APP_LABEL
from ..streams import is_gzip
from .base import BackupInfo, Engine

log = logging.getLogger(__name__)

# A dumpdata file starts with "[" and an object whose first key is one of these.
HEAD_PATTERN = re.compile(rb'\A(?:\xef\xbb\xbf)?\s*\[\s*\{\s*"(?:model|pk|fields)"\s*:')


class FixturesEngine(Engine):
    format = "django_fixtures"
    label = N_("Django fixture (dumpdata JSON)")
    target_kinds = ("postgresql", "sqlite")

    def sniff(self, head: bytes) -> bool:
        return bool(HEAD_PATTERN.match(head)) and b'"model"' in head

    def inspect(self, path) -> BackupInfo:
        # ijson and the loader are imported here, not with the registry: a restore of another format skips them.
        import ijson

        from .fixtures_read import iter_objects, json_parse_error, open_fixture

        path = Path(path)
        counts = {}
        natural_primary = False
        natural_foreign = False
        fk_fields = {}  # model label -> names of its foreign key fields
        unknown = set()
        with open_fixture(path) as stream:
            try:
                for index, obj in enumerate(iter_objects(stream)):
                    label = obj.get("model") if isinstance(obj, dict) else None
                    if not isinstance(label, str) or not isinstance(obj.get("fields"), dict):
                        raise BackupRejected(
                            N_("Object number %(number)s of the fixture is not a Django object "
                               "(it needs a \"model\" name and a \"fields\" mapping)."),
                            params={"number": index + 1},
                        )
                    label = label.lower()
                    if label not in counts:
                        counts[label] = 0
                        fk_fields[label] = _foreign_key_names(label, unknown)
                    counts[label] += 1
                    if "pk" not in obj:
                        natural_primary = True
                    if not natural_foreign and fk_fields[label]:
                        fields = obj["fields"]
                        natural_foreign = any(isinstance(fields.get(name), list) for name in fk_fields[label])
            except ijson.JSONError as exc:
                raise json_parse_error(exc, stream) from exc
            except (OSError, EOFError) as exc:
                raise BackupRejected(N_("The fixture cannot be read: %(error)s."), params={"error": str(exc)}) from exc
        if not counts:
            raise BackupRejected(N_("The fixture holds no objects: there is nothing to restore."))
        if unknown:
            raise BackupRejected(
                N_("The fixture holds objects of models this project does not have: %(models)s. "
                   "Restore it into the project it was made from, or remove those objects from the file."),
                params={"models": shortened(sorted(unknown), 10)},
            )
        own = sorted(label for label in counts if label.split(".", 1)[0] == APP_LABEL)
        if own:
            raise BackupRejected(
                N_("The fixture holds dbkeeper's own records (%(models)s); those are never restored. "
                   "Make the fixture without the dbkeeper app (dumpdata --exclude dbkeeper)."),
                params={"models": own},
            )
        return BackupInfo(
            format=self.format,
            label=self.label,
            size=path.stat().st_size,
            compressed=is_gzip(path),
            tables=sorted(_tables_of(counts)),
            details={
                "objects": sum(counts.values()),
                "models": counts,
                "natural_primary_keys": natural_primary,
                "natural_foreign_keys": natural_foreign,
            },
        )

    def restore(self, path, info: BackupInfo, target, progress) -> None:
        from .fixtures_load import restore_fixture

        restore_fixture(path, info, target, progress)

    def check(self, info: BackupInfo, target) -> None:
        target.check()
        # Target.tables() names PostgreSQL tables "schema.table"; models know the bare name.
        present = {name.rpartition(".")[2] for name in target.tables()}
        missing = sorted(set(info.tables) - present)
        if missing:
            raise CheckFailed(
                Np_("The restored copy is missing the table %(tables)s.", "The restored copy is missing the tables %(tables)s."),
                params={"count": len(missing), "tables": missing[:10]},
            )


def _foreign_key_names(label, unknown) -> list:
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        unknown.add(label)
        return []
    return [f.name for f in model._meta.concrete_model._meta.local_fields if f.remote_field is not None]


def _tables_of(counts):
    for label in counts:
        model = apps.get_model(label)._meta.concrete_model
        yield model._meta.db_table
        for field in model._meta.local_many_to_many:
            if field.remote_field.through._meta.auto_created:
                yield field.remote_field.through._meta.db_table
