"""Checks that a sentence reads in Arabic, for the tests of every layer that makes sentences."""

import re

from django.utils import translation

from dbkeeper.web.messages import localize

ARABIC = re.compile(r"[\u0600-\u06FF]")
WORD = re.compile(r"[A-Za-z']+")


def in_arabic(message):
    with translation.override("ar"):
        return localize(message)


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
