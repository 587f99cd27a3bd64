"""The pages' scripts: every one a static file in one style (const/let, no
var), in the one global namespace window.dbkeeper, and no template carries
script code or an inline event handler; the upload page's sentences come
translated from the server like the other pages'."""

import json
import re
from pathlib import Path

import pytest
from django.test import Client
from django.utils import translation

from dbkeeper.web.strings import js_strings

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "dbkeeper" / "web" / "static" / "dbkeeper"
TEMPLATE_DIRS = [ROOT / "dbkeeper" / "web" / "templates", ROOT / "example"]
SCRIPTS = sorted(STATIC.glob("*.js"))
TEMPLATES = sorted(p for d in TEMPLATE_DIRS for p in d.rglob("*.html"))

SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)
EVENT_ATTRIBUTE = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
GLOBAL_ASSIGNMENT = re.compile(r"\bwindow\.([A-Za-z_$][\w$]*)\s*=(?!=)")


def test_there_are_scripts_and_templates_to_check():
    assert {"common.js", "upload.js", "tus-client.js"} <= {p.name for p in SCRIPTS}
    assert any(p.name == "upload.html" for p in TEMPLATES)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_carry_no_script_code_and_no_inline_handlers(template):
    text = template.read_text()
    for attributes, body in SCRIPT_TAG.findall(text):
        assert "src=" in attributes and not body.strip(), (template.name, attributes, body[:80])
    assert not EVENT_ATTRIBUTE.search(text), EVENT_ATTRIBUTE.search(text).group(0)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_share_one_style_and_one_namespace(script):
    text = script.read_text()
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)
    assert '"use strict";' in code
    assert not re.search(r"\bvar\s", code), "var instead of const/let"
    assert not re.search(r"\.then\(", code), "promise chains instead of async/await"
    assert set(GLOBAL_ASSIGNMENT.findall(code)) <= {"dbkeeper"}


def test_the_event_attribute_check_sees_handlers():
    assert EVENT_ATTRIBUTE.search('<button type="button" onclick="go()">')
    assert not EVENT_ATTRIBUTE.search('<button type="button" data-once="1">')


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_upload_page_hands_its_script_the_translated_sentences(alice, language):
    client = Client(headers={"Accept-Language": language})
    client.force_login(alice)
    html = client.get("/uploads/new/").content.decode()
    found = re.search(r'<script id="dbkeeper-strings" type="application/json">(.*?)</script>', html, re.S)
    strings = json.loads(found.group(1))
    with translation.override(language):
        assert strings == js_strings()
    assert "upload.js" in html and "tus-client.js" in html
    if language == "ar":  # a sentence the catalog already has
        assert strings["upload_progress"] != "Uploading… {percent}" and "{percent}" in strings["upload_progress"]
