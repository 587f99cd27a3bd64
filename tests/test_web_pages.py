"""The pages themselves: who may open them, what they carry for their
scripts, the notifications waiting for the user, and both languages."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from dbkeeper.backups.models import Backup
from dbkeeper.notifications import delivery
from dbkeeper.notifications.models import Notification
from dbkeeper.operations import service
from dbkeeper.operations.models import Operation
from dbkeeper.targets.models import Target

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = ["/", "/operations/"]


def logged_in(user, **headers):
    client = Client(**headers)
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(path):
    response = Client().get(path)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("path", PAGES)
def test_a_user_without_permissions_gets_403(path, django_user_model):
    client = logged_in(django_user_model.objects.create_user("eve", password="pw"))
    response = client.get(path)
    assert response.status_code == 403 and "no permission" in response.content.decode()


def test_login_page_signs_in_and_goes_to_the_dashboard(alice):
    client = Client()
    assert client.get("/login/").status_code == 200
    response = client.post("/login/", {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    bad = Client().post("/login/", {"username": "alice", "password": "wrong"})
    assert bad.status_code == 200 and "do not match" in bad.content.decode()


def test_restore_page_lists_targets_and_backups_and_never_a_password(alice, pg):
    Target.objects.create(name="shop", url=pg.url("shop"))
    Backup.objects.create(name="shop.dump", storage_name="2026/01/x.dump", size=2048, sha256="0" * 64,
                          format="pg_custom", format_label="PostgreSQL custom-format dump",
                          info={"tables": ["public.items"], "server_version": "15.4"})
    html = logged_in(alice).get("/").content.decode()
    assert 'value="shop"' in html and "shop.dump" in html and "public.items" in html
    assert "s3cret" not in html
    assert 'id="dbkeeper-urls"' in html and '"/api/restores/"' in html and '"/restore-progress/' not in html


def test_progress_page_of_another_users_operation_is_403(alice, django_user_model):
    bob = django_user_model.objects.create_user("bob", password="pw", is_staff=True)
    op = Operation.objects.create(user_id=str(bob.pk), username="bob", source_name="x")
    assert logged_in(alice).get(f"/restore-progress/{op.id}/").status_code == 403
    assert logged_in(bob).get(f"/restore-progress/{op.id}/").status_code == 200


def test_a_finished_operation_leaves_a_notification_shown_at_next_page_load(alice, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from django.core import mail

    op = Operation.objects.create(user_id=str(alice.pk), username="alice", source_name="shop.dump",
                                  target_display="postgresql://app@db/shop", lock_key="k")
    delivery.expect(op, "en")
    client = logged_in(alice)
    assert 'class="notification ' not in client.get("/operations/").content.decode()  # not ended yet
    service.cancel(op, by="alice")  # ends it: operation_finished is sent
    html = client.get("/operations/").content.decode()
    assert re.search(r"The restore of shop.dump into postgresql://app@db/shop was cancelled", html)
    note = Notification.objects.get()
    assert note.outcome == "cancelled" and note.read_at is None
    # And an e-mail, since e-mail is configured.
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.org"]
    assert "shop.dump" in mail.outbox[0].subject and "The live database was not changed." in mail.outbox[0].body
    # Dismissed, it does not come back.
    client.get("/")
    csrf = client.cookies["csrftoken"].value
    client_csrf = Client(enforce_csrf_checks=True)
    client_csrf.cookies = client.cookies
    response = client_csrf.post("/api/notifications/read/", {"id": note.pk}, content_type="application/json",
                                HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200 and response.json() == {"read": 1}
    assert 'class="notification ' not in client.get("/operations/").content.decode()


def test_no_email_without_email_configuration(alice, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    op = Operation.objects.create(user_id=str(alice.pk), username="alice", source_name="x", lock_key="k")
    service.cancel(op)
    note = Notification.objects.get()
    assert note.outcome == "cancelled" and note.emailed_at is None


def test_email_in_the_language_the_restore_was_started_in(alice, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from django.core import mail

    op = Operation.objects.create(user_id=str(alice.pk), username="alice", source_name="x.dump", lock_key="k")
    delivery.expect(op, "ar")
    service.cancel(op)
    assert re.search(r"[\u0600-\u06ff]", mail.outbox[0].subject + mail.outbox[0].body)
    # The stored reason too, rendered from its data in the same language.
    op.refresh_from_db()
    with translation.override("ar"):
        reason = op.rendered_error()
    assert reason != op.error_message and reason in mail.outbox[0].body
    assert op.error_message not in mail.outbox[0].body


@pytest.mark.parametrize("path", PAGES + ["/login/"])
def test_arabic_pages_are_right_to_left_and_translated(alice, path):
    client = logged_in(alice, HTTP_ACCEPT_LANGUAGE="ar") if path != "/login/" else Client(HTTP_ACCEPT_LANGUAGE="ar")
    html = client.get(path).content.decode()
    assert '<html lang="ar" dir="rtl">' in html
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert re.search(r"[\u0600-\u06ff]", title)
    english = Client(HTTP_ACCEPT_LANGUAGE="en").get("/login/").content.decode()
    assert '<html lang="en" dir="ltr">' in english


def test_language_switch_sets_the_language(alice):
    client = logged_in(alice, HTTP_ACCEPT_LANGUAGE="en")
    response = client.post(reverse("dbkeeper:set_language"), {"language": "ar", "next": "/operations/"})
    assert response.status_code == 302 and response["Location"] == "/operations/"
    assert 'dir="rtl"' in client.get("/operations/").content.decode()


def test_static_files_are_served_by_the_standalone_server(alice):
    for name in ("dbkeeper.css", "common.js", "tracker.js", "restore.js", "operations.js", "progress.js"):
        response = Client().get(f"/static/dbkeeper/{name}")
        assert response.status_code == 200, name


def test_progress_page_opens_without_a_session_but_names_nothing(alice):
    op = Operation.objects.create(user_id=str(alice.pk), username="alice", source_name="secret-plans.dump",
                                  target_display="postgresql://app@db/hr")
    response = Client().get(f"/restore-progress/{op.id}/")
    html = response.content.decode()
    assert response.status_code == 200 and "secret-plans" not in html and "postgresql://app@db/hr" not in html
    assert f"/restore-progress/{op.id}/status/" in html  # what the script polls, with the tab's token
    assert "secret-plans" in logged_in(alice).get(f"/restore-progress/{op.id}/").content.decode()
