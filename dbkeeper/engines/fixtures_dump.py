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
    out_path = Path(out_path)
    partial = out_path.with_name(f".{out_path.name}.partial")
    try:
        with open(partial, "wb", buffering=WRITE_BUFFER) as raw:
            written = stream_fixture(alias, raw, gzipped=out_path.suffix == ".gz", on_progress=on_progress,
                                     exclude=exclude, natural_foreign=natural_foreign, natural_primary=natural_primary)
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
    log.info("wrote %s objects to %s", written, out_path)
    return written


def stream_fixture(alias, out, gzipped=True, on_progress=None, exclude=(), natural_foreign=False,
                   natural_primary=False, counts=None, level=6):
    """Write every object of ``alias`` into ``out`` (a binary file-like object
    of which only write() is used), gzipped if ``gzipped``. ``counts``, if
    given, is filled with model label -> objects written. Returns the number
    of objects."""
    if alias not in connections:
        raise DbkeeperError(N_("There is no database alias %(alias)s in this project's DATABASES."), params={"alias": repr(alias)})
    models = models_to_dump(alias, exclude)
    total = sum(model._base_manager.using(alias).count() for model in models)
    if on_progress:
        on_progress(0, total)
    written = 0

    def objects():
        nonlocal written
        for model in models:
            label = model._meta.label_lower
            if counts is not None:
                counts.setdefault(label, 0)
            for obj in _queryset(model, alias).iterator(chunk_size=CHUNK):
                yield obj
                written += 1
                if counts is not None:
                    counts[label] += 1
                if on_progress and written % CHUNK == 0:
                    on_progress(written, total)

    binary = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=level) if gzipped else out
    text = io.TextIOWrapper(_WriteOnly(binary), encoding="utf-8", write_through=False)
    serializers.serialize(
        "json", objects(), stream=text,
        use_natural_foreign_keys=natural_foreign, use_natural_primary_keys=natural_primary,
    )
    text.write("\n")
    text.flush()
    text.detach()
    if binary is not out:
        binary.close()
    if on_progress:
        on_progress(written, total)
    log.info("wrote %s objects of %s models", written, len(models))
    return written


class _WriteOnly(io.RawIOBase):
    """Lets TextIOWrapper write into any object that has write()."""

    def __init__(self, out):
        self.out = out

    def writable(self):
        return True

    def write(self, data):
        self.out.write(bytes(data))
        return len(data)
