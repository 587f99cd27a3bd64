"""Template tags for pages rendered outside dbkeeper.web's own views (the
upload page lives with the uploads, which do not import the web layer)."""

from django import template

from ..strings import js_strings

register = template.Library()


@register.simple_tag
def page_strings():
    """The page scripts' sentences in the active language (see strings.py)."""
    return js_strings()
