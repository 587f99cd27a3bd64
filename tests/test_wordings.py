"""One table of wordings per kind of operation (operations/wordings.py): every
kind has a complete row with the stages its runner reports; the in-app
notification, the e-mail, the status answer and the progress page read it, so
that a copy, a drop, an undo or a new database never speaks of a restore."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.utils import translation

from dbkeeper.notifications import delivery
from dbkeeper.operations.models import Operation
from dbkeeper.operations.wordings import PAGE_FIELDS, WORDINGS, key_of, mail as mail_for, note_sentence
from dbkeeper.web.strings import js_strings

pytestmark = pytest.mark.django_db

# The stages each runner reports (besides "queued", said while it waits).
STAGES = {
    "restore": {"validating", "restoring", "checking", "swapping", "done"},
    "create": {"validating", "restoring", "checking", "swapping", "done"},
    "backup": {"backing_up", "done"},
    "verify": {"validating", "restoring", "checking", "done"},
    "duplicate": {"validating", "copying", "done"},
    "drop": {"validating", "backing_up", "dropping", "done"},
    "undo": {"validating", "swapping", "done"},
}

CASES = {
    "duplicate": dict(kind="duplicate", source_name="shop", result={"request": {"source": "shop", "name": "shop_copy"}}),
    "drop": dict(kind="drop", source_name="shop_old", result={"request": {"database": "shop_old"}}),
    "undo": dict(kind="undo", source_name="shop__dbk_pre_1", result={"request": {"copy_name": "shop__dbk_pre_1"}}),
    "create": dict(kind="restore", database="shop_new", source_name="shop.dump"),
}


def test_every_kind_has_one_complete_row():
    assert set(WORDINGS) == {"restore", "create", *Operation.Kind.values}
    for key, row in WORDINGS.items():
        assert set(row.stages) == STAGES[key] | {"queued"}, key
        for name in PAGE_FIELDS:
            assert getattr(row, name) or name == "body", (key, name)
    assert key_of("restore", "shop_new") == "create" and key_of("restore") == "restore"
    assert key_of("drop") == "drop" and key_of("something else") == "restore"


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_page_gets_every_row_in_its_language(language):
    with translation.override(language):
        kinds = js_strings()["kinds"]
        assert kinds["drop"]["heading"] == translation.gettext("Drop progress")
        assert kinds["verify"]["stages"]["restoring"] == translation.gettext("Test-restoring into a scratch copy…")
    assert set(kinds) == set(WORDINGS) and kinds["create"]["after"] == "databases"


@pytest.mark.parametrize("key", sorted(CASES))
@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
def test_notification_and_e_mail_speak_of_the_kind(alice, settings, key, status):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    message = {"succeeded": "It is done.", "failed": "It broke.", "cancelled": "It was cancelled."}[status]
    op = Operation.objects.create(user_id=str(alice.pk), username="alice", target_display="postgresql://app@db/shop",
                                  target_spec="main", status=status, message=message,
                                  error_message="" if status == "succeeded" else message, **CASES[key])
    delivery.on_operation_finished(Operation, op)
    subject, body = mail.outbox[-1].subject, mail.outbox[-1].body
    note = note_sentence(op, status, "main")
    for text in (subject, body, note):
        assert "restore" not in text.lower() or key == "undo", text
    row = WORDINGS[key]
    assert subject.split(":")[0] == getattr(row, "mail_" + status).split(":")[0]
    assert message in body or status == "succeeded" and key == "create"
    if status != "succeeded":
        assert row.unchanged in body
    assert body.rstrip().endswith(f"Operation: {op.id}")
    # The in-app notification, on the next page.
    html = Client()
    html.force_login(alice)
    assert note in html.get("/operations/").content.decode()


def test_a_restore_still_speaks_of_a_restore(alice):
    op = Operation.objects.create(user_id=str(alice.pk), username="alice", source_name="shop.dump",
                                  target_display="postgresql://app@db/shop", status="succeeded",
                                  result={"prerestore": "shop__dbk_pre_2"})
    subject, body = mail_for(op)
    assert subject == "Restore finished: shop.dump into postgresql://app@db/shop"
    assert "The previous database was kept as shop__dbk_pre_2." in body


def test_the_status_and_the_page_name_the_row(alice):
    from dbkeeper.web.serializers import status_of

    op = Operation.objects.create(user_id=str(alice.pk), username="alice", **CASES["create"])
    assert status_of(op, events=False)["wording"] == "create"
    client = Client()
    client.force_login(alice)
    html = client.get(f"/restore-progress/{op.id}/").content.decode()
    assert '<h1 id="progress-heading">New database progress</h1>' in html
    assert re.search(r'"wording": "create".*"database": "shop_new"|"database": "shop_new".*"wording": "create"', html)
    assert 'id="tracker-databases"' in html and 'id="tracker-another"' not in html
