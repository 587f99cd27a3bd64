"""Checks that a sentence reads in Arabic, for the tests of every layer that makes sentences."""

import re

from django.utils import translation

from dbkeeper.errors import DbkeeperError
from dbkeeper.messages import render_stored

ARABIC = re.compile(r"[\u0600-\u06FF]")
WORD = re.compile(r"[A-Za-z']+")


class Rejected:
    """What a test reads of an error: its English text, and the same sentence
    in Arabic both as raised and as stored (the way the worker keeps it)."""

    def __init__(self, exc: DbkeeperError):
        self.message = exc.message
        with translation.override("ar"):
            self.arabic = exc.render()
            self.stored = render_stored(exc.sentence.to_json(), exc.message)
        assert self.stored == self.arabic


def in_arabic(shown) -> str:
    """The Arabic of an error (a Rejected), or of a sentence the worker
    stored (its English text: the event that holds it renders its data)."""
    if isinstance(shown, Rejected):
        return shown.arabic
    from dbkeeper.operations.models import Event

    event = Event.objects.filter(message=shown).order_by("-id").first()
    with translation.override("ar"):
        return event.rendered() if event is not None else render_stored(None, shown)


def assert_translated(english, arabic, details=()):
    """``arabic`` is not ``english`` and keeps no run of three of its words,
    apart from the ``details`` (names, numbers, library errors) it carries over."""
    assert arabic != english
    assert ARABIC.search(arabic), arabic
    for detail in details:
        assert detail in arabic, (detail, arabic)
        english, arabic = english.replace(detail, " | "), arabic.replace(detail, " | ")
    words = WORD.findall(english)
    for i in range(len(words) - 2):
        run = " ".join(words[i:i + 3])
        assert run not in arabic, (run, arabic)
