"""Template tags for pages rendered outside dbkeeper.web's own views (the
upload page lives with the uploads, which do not import the web layer)."""

from django import template

from .. import strings

register = template.Library()


@register.simple_tag
def page_strings():
    """The page scripts' sentences in the active language (see strings.py)."""
    return strings.js_strings()


@register.simple_tag
def size_text(n):
    """A size in the pages' own units, in the active language."""
    return strings.size_text(n)


@register.filter
def target_name(operation) -> str:
    """The target of ``operation`` as the user chose it: its configured name,
    else what names it without a password (never the spec's URL, which may hold one)."""
    spec = (operation.target_spec or "").strip()
    if spec and "://" not in spec:
        return spec
    return operation.target_display


@register.filter
def note_sentence(note) -> str:
    """How the operation of an in-app notification ended, in the words of its kind (operations/wordings.py)."""
    from ...operations.wordings import note_sentence as sentence

    return sentence(note.operation, note.outcome, target_name(note.operation))
