"""Loading a Django fixture into a scratch database, fast and in little memory.

What ``loaddata`` does object by object (a query or two per object, after
reading the whole file), this does in bulk: objects are converted as they
stream from the file, buffered per model, and written a batch at a time with
raw inserts (the fixture's values as they are, like ``loaddata``: no
``auto_now``, no signals). Many-to-many links go into their tables in bulk too.
Everything happens in one transaction; foreign keys are deferred and checked
once before it commits, and a bad object is reported by model and primary key.
"""

import json
import logging

from django.apps import apps
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.management.color import no_style
from django.db import DatabaseError, connections, models, transaction

from ..errors import RestoreFailed
from ..messages import Message, N_
from . import django_alias
from .fixtures import iter_objects, json_error, open_fixture

log = logging.getLogger(__name__)

BATCH = 1000
NATURAL_KEY_CACHE = 100_000
PROGRESS_EVERY = 2000


def restore_fixture(path, info, target, progress):
    with django_alias.temporary_alias(target) as alias:
        # Fixed sentences go to progress.message as their marked template alone:
        # the current message is kept as text, translated when it is shown.
        progress.message(N_("Creating the project's tables in the scratch copy (migrations)."))
        try:
            django_alias.migrate(alias)
        except Exception as exc:
            log.exception("migrations failed on the scratch copy")
            raise RestoreFailed(N_("The project's migrations failed on the scratch copy: %(error)s."),
                                code="migrate_failed", params={"error": str(exc)}) from exc
        progress.set_total(info.details.get("objects", 0), "objects")
        progress.message(N_("Loading objects."))
        Loader(alias, info.details.get("models", {}), progress).load(path)
        _forget_cached_content_types()


def _forget_cached_content_types():
    # ContentType's manager caches ids per alias; the restore changed them.
    if apps.is_installed("django.contrib.contenttypes"):
        from django.contrib.contenttypes.models import ContentType

        ContentType.objects.clear_cache()


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def _db_reason(exc) -> str:
    """The database's message, with PostgreSQL's detail line ("Key (id)=(3) already exists.")."""
    reason = _first_line(exc).rstrip(".")
    detail = getattr(getattr(exc.__cause__, "diag", None), "message_detail", None)
    return f"{reason} ({detail.rstrip('.')})" if detail else reason


def _freeze(value):
    """A natural key (lists from JSON) as something a dict can hold."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


class Row:
    """One object to insert: the attributes a raw insert reads (field attnames)."""


class Pending:
    __slots__ = ("row", "m2m", "pk", "number")

    def __init__(self, row, m2m, pk, number):
        self.row = row
        self.m2m = m2m  # {field: [target pks]} or None
        self.pk = pk  # as the fixture gave it (for messages)
        self.number = number  # position in the file, from 1


class ModelPlan:
    """How the objects of one model are converted and inserted."""

    def __init__(self, loader, model):
        self.loader = loader
        self.model = model._meta.concrete_model
        opts = self.model._meta
        self.label = opts.label_lower
        self.pk = opts.pk
        # What a raw save writes: the model's own columns, not the generated ones.
        self.insert_fields = [f for f in opts.local_concrete_fields if not getattr(f, "generated", False)]
        self.auto_field = opts.auto_field
        # What dumpdata writes for a model: its own table's fields and links.
        self.converters = {f.name: (f.attname, self._converter(f)) for f in self.insert_fields}
        self.m2m = {f.name: f for f in opts.local_many_to_many}
        # Fields of parent models (multi-table inheritance) live in the parents'
        # own objects; like loaddata, a copy of them here is ignored.
        self.ignored = {f.name for f in opts.concrete_fields if f.name not in self.converters}
        # Fields a fixture may leave out get their default, as Model() would give.
        self.defaults = [f for f in self.insert_fields if f is not self.pk]
        self.manager = self.model._base_manager

    def _converter(self, field):
        if field.remote_field is not None and isinstance(field.remote_field, models.ManyToOneRel):
            related = field.remote_field.model
            target = related._meta.get_field(field.remote_field.field_name)
            natural = hasattr(related._default_manager, "get_by_natural_key")

            def convert(value):
                if value is None:
                    return None
                if natural and isinstance(value, list):
                    return self.loader.natural_key(related, value, field.remote_field.field_name)
                return target.to_python(value)

            return convert
        return field.to_python

    def build(self, obj, number):
        """The object as a Row, its many-to-many links, and its pk as given."""
        fields = obj["fields"]
        given_pk = obj.get("pk")
        values = {}
        for name, value in fields.items():
            converter = self.converters.get(name)
            if converter is None:
                if name in self.m2m or name in self.ignored:
                    continue
                raise self.loader.bad_object(self.label, given_pk, Message(
                    N_("it has a field %(name)s that this project's %(model)s does not have"),
                    {"name": repr(name), "model": self.label},
                ))
            attname, convert = converter
            try:
                values[attname] = convert(value)
            except RestoreFailed:
                raise
            except (ValidationError, ValueError, TypeError, ObjectDoesNotExist) as exc:
                raise self.loader.bad_object(self.label, given_pk, _field_reason(name, exc)) from exc
        if "pk" in obj:
            try:
                values[self.pk.attname] = self.pk.to_python(given_pk) if given_pk is not None else None
            except (ValidationError, ValueError, TypeError) as exc:
                raise self.loader.bad_object(
                    self.label, given_pk, Message(N_("primary key: %(reason)s"), {"reason": _reason(exc)}),
                ) from exc
        elif self.pk.attname not in values:
            values[self.pk.attname] = None if self.auto_field is self.pk else self.pk.get_default()
        for field in self.defaults:
            if field.attname not in values:
                values[field.attname] = field.get_default()
        m2m = None
        for name, field in self.m2m.items():
            if name in fields:
                m2m = m2m or {}
                m2m[field] = self._m2m_values(field, fields[name], given_pk)
        row = Row()
        row.__dict__ = values
        return Pending(row, m2m, given_pk, number)

    def _m2m_values(self, field, value, given_pk):
        related = field.remote_field.model
        natural = hasattr(related._default_manager, "get_by_natural_key")
        if not isinstance(value, list):
            raise self.loader.bad_object(
                self.label, given_pk, Message(N_("field %(name)s must be a list"), {"name": field.name}),
            )
        result = []
        for item in value:
            try:
                if natural and isinstance(item, list):
                    result.append(self.loader.natural_key(related, item, related._meta.pk.name))
                else:
                    result.append(related._meta.pk.to_python(item))
            except RestoreFailed:
                raise
            except (ValidationError, ValueError, TypeError, ObjectDoesNotExist) as exc:
                raise self.loader.bad_object(self.label, given_pk, _field_reason(field.name, exc)) from exc
        return result


class Loader:
    def __init__(self, alias, model_counts, progress):
        self.alias = alias
        self.connection = connections[alias]
        self.model_counts = model_counts
        self.progress = progress
        self.plans = {}
        self.buffers = {}  # ModelPlan -> [Pending]
        self.links = {}  # auto-created through model -> [Row]
        self.natural_cache = {}
        self.loaded = set()  # concrete models written
        self.done = 0
        self.current = None  # the ModelPlan of the object being converted

    # -- the whole load ------------------------------------------------------
    def load(self, path):
        with transaction.atomic(using=self.alias):
            if self.connection.vendor == "postgresql":
                with self.connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            self._clear_tables()
            with open_fixture(path) as stream:
                try:
                    for number, obj in enumerate(iter_objects(stream), start=1):
                        self._take(obj, number)
                except (ValueError, OSError, EOFError) as exc:
                    # ijson's errors are ValueErrors; a truncated gzip is an EOFError.
                    if isinstance(exc, RestoreFailed):
                        raise
                    raise RestoreFailed(json_error(exc, stream).sentence, code="bad_fixture") from exc
            self._flush_all()
            self.progress.advance(self.done)
            self.progress.message(N_("Checking foreign keys."))
            self._check_foreign_keys()
            self._reset_sequences()
        log.info("loaded %s objects of %s models", self.done, len(self.loaded))

    def _take(self, obj, number):
        label = obj.get("model") if isinstance(obj, dict) else None
        if not isinstance(label, str) or not isinstance(obj.get("fields"), dict):
            raise RestoreFailed(N_("Object number %(number)s of the fixture is not a Django object."),
                                code="bad_object", params={"number": number})
        plan = self.plan(label)
        self.current = plan
        pending = plan.build(obj, number)
        buffer = self.buffers.setdefault(plan, [])
        buffer.append(pending)
        if len(buffer) >= BATCH:
            self._flush(plan)
        self.done += 1
        if self.done % PROGRESS_EVERY == 0:
            self.progress.advance(self.done)

    def plan(self, label) -> ModelPlan:
        plan = self.plans.get(label)
        if plan is None:
            try:
                model = apps.get_model(label)
            except (LookupError, ValueError):
                raise RestoreFailed(N_("The fixture holds objects of %(model)s, a model this project does not have."),
                                    code="bad_object", params={"model": label})
            plan = self.plans[label] = ModelPlan(self, model)
        return plan

    # -- clearing what the migrations created ---------------------------------
    def _clear_tables(self):
        """Migrations create some rows (content types, permissions, data
        migrations); the fixture is the whole content of the models it holds."""
        quote = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            for label in self.model_counts:
                model = apps.get_model(label)._meta.concrete_model
                for through in _auto_through_models(model):
                    cursor.execute(f"DELETE FROM {quote(through._meta.db_table)}")
                cursor.execute(f"DELETE FROM {quote(model._meta.db_table)}")
        _forget_cached_content_types()

    # -- natural keys ---------------------------------------------------------
    def natural_key(self, model, key, field_name):
        """The value of ``field_name`` of the ``model`` object whose natural key is ``key``."""
        cache_key = (model, field_name, _freeze(key))
        value = self.natural_cache.get(cache_key)
        if value is not None:
            return value
        # What the lookup looks for may still be waiting in a buffer.
        for plan in list(self.buffers):
            if plan is not self.current or plan.model is model._meta.concrete_model:
                self._flush(plan)
        if model._meta.label_lower == "contenttypes.contenttype":
            _forget_cached_content_types()
        try:
            obj = model._default_manager.db_manager(self.alias).get_by_natural_key(*key)
        except model.DoesNotExist:
            # A phrase for bad_object's sentence; _reason() passes it on as it is.
            raise ObjectDoesNotExist(Message(
                N_("it refers to the %(model)s with natural key %(key)s, "
                   "which is not in the backup (or comes after it in the file)"),
                {"model": model._meta.label_lower, "key": json.dumps(key)},
            )) from None
        value = getattr(obj, field_name)
        if isinstance(value, models.Model):  # the pk of a child model is its parent
            value = value.pk
        if len(self.natural_cache) >= NATURAL_KEY_CACHE:
            self.natural_cache.clear()
        self.natural_cache[cache_key] = value
        return value

    # -- writing --------------------------------------------------------------
    def _flush_all(self):
        for plan in list(self.buffers):
            self._flush(plan)
        for through in list(self.links):
            self._flush_links(through)

    def _flush(self, plan):
        pending = self.buffers.pop(plan, None)
        if not pending:
            return
        self.loaded.add(plan.model)
        with_pk = [p for p in pending if getattr(p.row, plan.pk.attname) is not None]
        without_pk = [p for p in pending if getattr(p.row, plan.pk.attname) is None]
        if with_pk:
            self._insert(plan.manager, plan.label, with_pk, plan.insert_fields)
        if without_pk:
            # No primary key in the fixture (natural primary keys): the database gives one.
            fields = [f for f in plan.insert_fields if f is not plan.auto_field]
            returned = self._insert(plan.manager, plan.label, without_pk, fields, returning=[plan.pk])
            for item, values in zip(without_pk, returned):
                setattr(item.row, plan.pk.attname, values[0])
        if plan.model._meta.label_lower == "contenttypes.contenttype":
            _forget_cached_content_types()
        for item in pending:
            if item.m2m:
                self._add_links(item, plan)

    def _add_links(self, item, plan):
        source_pk = getattr(item.row, plan.pk.attname)
        for field, target_pks in item.m2m.items():
            through = field.remote_field.through
            source_column = field.m2m_field_name() + "_id"
            target_column = field.m2m_reverse_field_name() + "_id"
            rows = self.links.setdefault(through, [])
            for target_pk in target_pks:
                link = Row()
                link.__dict__ = {source_column: source_pk, target_column: target_pk}
                rows.append(link)
            if len(rows) >= BATCH:
                self._flush_links(through)

    def _flush_links(self, through):
        rows = self.links.pop(through, None)
        if not rows:
            return
        self.loaded.add(through)
        fields = [f for f in through._meta.local_concrete_fields if not f.primary_key]
        items = [Pending(row, None, None, None) for row in rows]
        self._insert(through._base_manager, through._meta.label_lower, items, fields, link_of=through)

    def _insert(self, manager, label, items, fields, returning=None, link_of=None):
        """Insert ``items`` in batches the database accepts; a batch that fails
        is tried again row by row to name the object at fault."""
        returned = []
        # PostgreSQL takes at most 65535 parameters in a statement when they are bound on the server.
        size = min(BATCH, 65000 // max(1, len(fields)), self.connection.ops.bulk_batch_size(fields, items) or BATCH)
        size = max(1, size)
        for start in range(0, len(items), size):
            batch = items[start:start + size]
            try:
                with transaction.atomic(using=self.alias, savepoint=True):
                    returned += manager._insert([i.row for i in batch], fields=fields, returning_fields=returning, raw=True, using=self.alias) or []
            except DatabaseError as exc:
                raise self._explain_insert_failure(manager, label, batch, fields, returning, link_of) or RestoreFailed(
                    N_("Objects of %(model)s could not be written: %(error)s."),
                    code="bad_object", params={"model": label, "error": _db_reason(exc)},
                ) from exc
        return returned

    def _explain_insert_failure(self, manager, label, batch, fields, returning, link_of):
        # Row by row, keeping those that go in, so that a row clashing with
        # another of the same batch is found too. The restore fails anyway.
        for item in batch:
            try:
                with transaction.atomic(using=self.alias, savepoint=True):
                    manager._insert([item.row], fields=fields, returning_fields=returning, raw=True, using=self.alias)
            except DatabaseError as exc:
                if link_of is not None:
                    return RestoreFailed(
                        N_("A many-to-many link %(link)s could not be written: %(error)s."),
                        code="bad_object", params={"link": _describe_link(link_of, item.row), "error": _db_reason(exc)},
                    )
                return self.bad_object(label, item.pk, _db_reason(exc))
        return None

    # -- the end --------------------------------------------------------------
    def _check_foreign_keys(self):
        try:
            with transaction.atomic(using=self.alias, savepoint=True):
                self.connection.check_constraints()
        except DatabaseError as exc:
            raise self._find_dangling() or RestoreFailed(
                N_("The fixture's objects break a constraint of the database: %(error)s."),
                code="bad_object", params={"error": _db_reason(exc)},
            ) from exc

    def _find_dangling(self):
        """The first row (in the scratch copy) whose foreign key points nowhere."""
        quote = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            for model in sorted(self.loaded, key=lambda m: m._meta.label_lower):
                opts = model._meta
                for field in opts.local_concrete_fields:
                    if not (field.remote_field and getattr(field, "db_constraint", False)):
                        continue
                    related = field.remote_field.model._meta
                    target_column = field.target_field.column
                    cursor.execute(
                        f"SELECT c.{quote(opts.pk.column)}, c.{quote(field.column)} FROM {quote(opts.db_table)} c "
                        f"LEFT JOIN {quote(related.db_table)} p ON p.{quote(target_column)} = c.{quote(field.column)} "
                        f"WHERE c.{quote(field.column)} IS NOT NULL AND p.{quote(target_column)} IS NULL LIMIT 1"
                    )
                    row = cursor.fetchone()
                    if row is None:
                        continue
                    pk, value = row
                    if opts.auto_created:
                        link = Row()
                        link.__dict__ = {f.attname: None for f in opts.local_concrete_fields}
                        cursor.execute(f"SELECT * FROM {quote(opts.db_table)} WHERE {quote(opts.pk.column)} = %s", [pk])
                        link.__dict__.update(zip([c[0] for c in cursor.description], cursor.fetchone()))
                        return RestoreFailed(
                            N_("The many-to-many link %(link)s refers to a %(model)s (%(value)s) that is not in the backup."),
                            code="dangling_foreign_key",
                            params={"link": _describe_link(model, link), "model": related.label_lower, "value": str(value)},
                        )
                    return self.bad_object(
                        opts.label_lower, pk,
                        Message(N_("its field %(name)s refers to %(model)s %(value)s, which is not in the backup"),
                                {"name": field.name, "model": related.label_lower, "value": str(value)}),
                        code="dangling_foreign_key",
                    )
        return None

    def _reset_sequences(self):
        statements = self.connection.ops.sequence_reset_sql(no_style(), sorted(self.loaded, key=lambda m: m._meta.label_lower))
        if statements:
            with self.connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)

    # -- messages ---------------------------------------------------------------
    def bad_object(self, label, pk, reason, code="bad_object"):
        """``reason`` is a phrase (a Message) or the database's own words."""
        if pk is None:
            return RestoreFailed(
                N_("The object %(model)s without a primary key cannot be restored: %(reason)s. Nothing was changed."),
                code=code, params={"model": label, "reason": reason},
            )
        return RestoreFailed(
            N_("The object %(model)s with primary key %(pk)s cannot be restored: %(reason)s. Nothing was changed."),
            code=code, params={"model": label, "pk": str(pk), "reason": reason},
        )


def _auto_through_models(model):
    for field in model._meta.local_many_to_many:
        through = field.remote_field.through
        if through._meta.auto_created:
            yield through


def _describe_link(through, row):
    """"shop.product 3 → shop.tag 9 (tags)" for a row of an auto-created through table."""
    source, target = None, None
    for field in through._meta.local_concrete_fields:
        if field.primary_key:
            continue
        value = getattr(row, field.attname, None)
        part = f"{field.remote_field.model._meta.label_lower} {value}"
        if source is None:
            source = part
        else:
            target = part
    return f"{source} → {target}"


def _field_reason(name, exc) -> Message:
    return Message(N_("field %(name)s: %(reason)s"), {"name": name, "reason": _reason(exc)})


def _reason(exc) -> Message | str:
    """Why a value was refused: our own phrase (a Message) or the library's words."""
    if exc.args and isinstance(exc.args[0], Message):
        return exc.args[0]
    if isinstance(exc, ValidationError):
        return " ".join(str(m) for m in exc.messages).rstrip(".")
    return _first_line(exc).rstrip(".")
