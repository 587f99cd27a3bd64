"""Writing a Django fixture (``dumpdata`` JSON, optionally gzipped) of a
database alias, streaming: rows are read in chunks with a server-side cursor
and written as they come, so memory does not grow with the database."""

import gzip
import io
import logging
import os
from pathlib import Path

from django.apps import apps
from django.core import serializers
from django.db import connections, router

from ..errors import DbkeeperError
from ..messages import N_
from ..router import APP_LABEL

log = logging.getLogger(__name__)

CHUNK = 2000
WRITE_BUFFER = 1024 * 1024


def models_to_dump(alias, exclude=()):
    """The models stored in ``alias``, in an order where what is referred to
    comes first (as dumpdata orders them)."""
    excluded = {APP_LABEL, *exclude}
    app_list = {
        config: None for config in apps.get_app_configs()
        if config.models_module is not None and config.label not in excluded
    }
    ordered = serializers.sort_dependencies(app_list.items(), allow_cycles=True)
    return [
        model for model in ordered
        if model._meta.label_lower not in excluded and not model._meta.proxy and router.allow_migrate_model(alias, model)
    ]


def _queryset(model, alias):
    queryset = model._base_manager.using(alias).order_by(model._meta.pk.name)
    # One query per chunk for the many-to-many links, not one per object.
    links = [f.name for f in model._meta.local_many_to_many if f.remote_field.through._meta.auto_created]
    if links:
        queryset = queryset.prefetch_related(*links)
    return queryset


def write_fixture(alias, out_path, on_progress=None, exclude=(), natural_foreign=False, natural_primary=False):
    """Write every object of ``alias`` to ``out_path`` (gzipped if it ends in
    .gz). ``on_progress(done, total)`` is called as objects are written.
    Returns the number of objects. The file appears only once it is complete."""
    if alias not in connections:
        raise DbkeeperError(N_("There is no database alias %(alias)s in this project's DATABASES."), params={"alias": repr(alias)})
    out_path = Path(out_path)
    models = models_to_dump(alias, exclude)
    total = sum(model._base_manager.using(alias).count() for model in models)
    if on_progress:
        on_progress(0, total)
    written = 0

    def objects():
        nonlocal written
        for model in models:
            for obj in _queryset(model, alias).iterator(chunk_size=CHUNK):
                yield obj
                written += 1
                if on_progress and written % CHUNK == 0:
                    on_progress(written, total)

    partial = out_path.with_name(f".{out_path.name}.partial")
    try:
        with open(partial, "wb", buffering=WRITE_BUFFER) as raw:
            binary = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) if out_path.suffix == ".gz" else raw
            text = io.TextIOWrapper(binary, encoding="utf-8")
            serializers.serialize(
                "json", objects(), stream=text,
                use_natural_foreign_keys=natural_foreign, use_natural_primary_keys=natural_primary,
            )
            text.write("\n")
            text.flush()
            text.detach()
            if binary is not raw:
                binary.close()
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
    if on_progress:
        on_progress(written, total)
    log.info("wrote %s objects of %s models to %s", written, len(models), out_path)
    return written
