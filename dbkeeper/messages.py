"""Sentences kept as data until someone reads them.

A ``Message`` is an English template and its parameters, as Django's
``ValidationError(message, code=..., params=...)`` keeps them: the parts below
the web (engines, targets, the worker) build and store messages, and the text
is put in the reader's language only when it is shown (page, API, e-mail,
CLI). Quoted text from PostgreSQL, psql or pg_restore stays a parameter, so it
is shown as the tool wrote it.

Marking templates, so that ``scripts/messages`` finds them:

- ``N_("The dump is truncated: it ends inside %(what)s.")`` marks one sentence
  (nothing is translated where it is written);
- ``Np_("%(count)s table", "%(count)s tables")`` marks a sentence with a
  singular and a plural; the parameter ``count`` picks the form (``ngettext``).

A parameter may itself be a ``Message`` (a phrase such as "the table of
contents" inside a sentence) or a list of parameters (joined with a translated
", "); both are rendered in the same language as the sentence around them.
"""

import logging
from typing import NamedTuple

from django.utils.translation import gettext, ngettext

log = logging.getLogger(__name__)


def N_(template: str) -> str:
    """Mark a sentence for translation; it is translated when shown. (Like
    ``gettext_noop``, but needs no Django settings, so modules that use it
    also work in the settings-less upload client.)"""
    return template


class Plural(NamedTuple):
    singular: str
    plural: str


def Np_(singular: str, plural: str) -> Plural:
    """Mark a sentence that has a plural form; ``params["count"]`` chooses it."""
    return Plural(singular, plural)


# The separator of a list parameter ("a, b, c"), translated with the sentence.
LIST_SEPARATOR = N_(", ")


class Message:
    """An English template (or ``Plural``) and its parameters."""

    __slots__ = ("template", "params", "count")

    def __init__(self, template, params=None, count="count"):
        if isinstance(template, Message):
            template, params, count = template.template, {**template.params, **(params or {})}, template.count
        if isinstance(template, (list, tuple)) and not isinstance(template, Plural):
            template = Plural(*template)
        self.template = template
        self.params = dict(params or {})
        self.count = count

    def __repr__(self):
        return f"Message({self.english()!r})"

    def __str__(self):
        return self.english()

    def __eq__(self, other):
        return isinstance(other, Message) and self.to_json() == other.to_json()

    __hash__ = None

    @property
    def is_plural(self) -> bool:
        return isinstance(self.template, Plural)

    # -- rendering -----------------------------------------------------------
    def render(self) -> str:
        """The sentence in the active language (Django's ``translation``)."""
        return self._format(_translate, self._pick_translated())

    def english(self) -> str:
        """The sentence as written, for logs and for readers of old records."""
        return self._format(_as_written, self._pick_english())

    def _pick_translated(self) -> str:
        if self.is_plural:
            return ngettext(self.template.singular, self.template.plural, _number(self.params.get(self.count)))
        return gettext(self.template)

    def _pick_english(self) -> str:
        if self.is_plural:
            return self.template.singular if _number(self.params.get(self.count)) == 1 else self.template.plural
        return self.template

    def _format(self, translate, text) -> str:
        if not self.params:
            return text
        values = {key: _render_param(value, translate) for key, value in self.params.items()}
        try:
            return text % values
        except (KeyError, ValueError, TypeError):
            # A translation that names other parameters must not hide the sentence.
            log.warning("translation of %r does not fit its parameters", self._pick_english())
            return self._pick_english() % values

    # -- storing -------------------------------------------------------------
    def to_json(self) -> dict:
        data = {"template": list(self.template) if self.is_plural else self.template}
        if self.params:
            data["params"] = {key: _encode(value) for key, value in self.params.items()}
        if self.is_plural and self.count != "count":
            data["count"] = self.count
        return data

    @classmethod
    def from_json(cls, data) -> "Message":
        template = data["template"]
        params = {key: _decode(value) for key, value in (data.get("params") or {}).items()}
        return cls(Plural(*template) if isinstance(template, list) else template, params, data.get("count", "count"))


def _number(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _translate(message: "Message") -> str:
    return message.render()


def _as_written(message: "Message") -> str:
    return message.english()


def _render_param(value, render_message):
    if isinstance(value, Message):
        return render_message(value)
    if isinstance(value, (list, tuple)):
        separator = gettext(LIST_SEPARATOR) if render_message is _translate else LIST_SEPARATOR
        return separator.join(str(_render_param(item, render_message)) for item in value)
    return value


def _encode(value):
    if isinstance(value, Message):
        return {"$message": value.to_json()}
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _decode(value):
    if isinstance(value, dict) and "$message" in value:
        return Message.from_json(value["$message"])
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def shortened(items, limit):
    """The first ``limit`` of ``items`` as a list parameter, ending in "…"
    when some were left out."""
    items = list(items)
    if len(items) > limit:
        return Message(N_("%(items)s …"), {"items": items[:limit]})
    return items


def as_message(message, params=None) -> Message:
    """``message`` (a template, a ``Plural`` or a ``Message``) as a Message."""
    return Message(message, params)


def render_stored(data, text="") -> str:
    """A stored sentence in the active language: ``data`` is what
    ``Message.to_json()`` gave; ``text`` is the English text kept beside it
    (records written before messages were stored as data have only that, and
    a fixed sentence among them is still translated)."""
    if data:
        try:
            return Message.from_json(data).render()
        except (KeyError, TypeError, ValueError):
            pass
    return gettext(text) if text else text
