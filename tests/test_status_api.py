"""The status endpoint through Django's whole request stack: credentials and
their answer codes, the JSON it returns, and what it never does (redirect,
extend the session, log a token)."""

import json
import logging
from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware
from django.contrib.sessions.models import Session
from django.http import JsonResponse
from django.test import Client, RequestFactory
from django.utils import timezone, translation

from dbkeeper.access import operation_tokens as tokens
from dbkeeper.access.middleware import SessionGuardMiddleware, mark_json
from dbkeeper.access.operation_tokens import OperationToken
from dbkeeper.messages import Message, N_
from dbkeeper.operations import runner, service, watchdog
from dbkeeper.operations.models import Operation

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = {"id", "kind", "wording", "status", "stage", "percent", "done", "total", "unit", "message", "eta_seconds",
          "started_at", "updated_at", "finished", "result", "error", "events"}


def make_operation(user, **fields):
    op = Operation.objects.create(user_id=str(user.pk), username=user.get_username(), source_name="shop.dump",
                                  target_display="postgresql://app@db/shop", **fields)
    op.add_event(N_("Restore of %(source)s into %(target)s queued."),
                 params={"source": "shop.dump", "target": "postgresql://app@db/shop"})
    return op


def url(op_id):
    return f"/restore-progress/{op_id}/status/"


def poll(client, op_id, token=None, **extra):
    headers = {"HTTP_X_TEMP_TOKEN": token} if token else {}
    return client.get(url(op_id), **headers, **extra)


def assert_json(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


def test_token_reads_progress_with_exactly_the_documented_fields(alice):
    op = make_operation(alice, status="running", stage="restoring", percent=42.5, done=420, total=1000,
                        unit="bytes", message="Restoring into a scratch copy; the live database is not touched.",
                        eta_seconds=12, started_at=timezone.now())
    token = tokens.issue(op)
    data = assert_json(poll(Client(), op.id, token), 200)
    assert set(data) == FIELDS
    assert data["id"] == op.id and data["kind"] == "restore" and data["status"] == "running"
    assert (data["stage"], data["percent"], data["done"], data["total"], data["unit"]) == ("restoring", 42.5, 420, 1000, "bytes")
    assert data["eta_seconds"] == 12 and data["finished"] is False and data["error"] is None and data["result"] == {}
    assert data["started_at"] and data["updated_at"]
    assert [e["message"] for e in data["events"]] == ["Restore of shop.dump into postgresql://app@db/shop queued."]
    assert set(data["events"][0]) == {"at", "level", "code", "message"}


def test_failure_carries_error_code_and_sentence(alice):
    op = make_operation(alice, status="failed", error_code="check_failed", finished_at=timezone.now(),
                        error_message="The restored copy is missing 1 table(s) of the backup: public.items.")
    data = assert_json(poll(Client(), op.id, tokens.issue(op)), 200)
    assert data["finished"] is True
    assert data["error"] == {"code": "check_failed", "message": "The restored copy is missing 1 table(s) of the backup: public.items."}


def test_no_credential_is_401_json_with_session_expired_and_www_authenticate(alice):
    op = make_operation(alice)
    response = poll(Client(), op.id)
    data = assert_json(response, 401)
    assert data["session_expired"] is True and data["error"]["code"] == "session_expired"
    assert response["WWW-Authenticate"].startswith("Session ")


def test_wrong_token_is_401(alice):
    op = make_operation(alice)
    tokens.issue(op)
    response = poll(Client(), op.id, "not-a-token-at-all")
    data = assert_json(response, 401)
    assert data["error"]["code"] == "token_missing" and data["session_expired"] is True
    assert response["WWW-Authenticate"].startswith("X-Temp-Token ")


def test_expired_token_is_401(alice):
    op = make_operation(alice)
    token = tokens.issue(op)
    OperationToken.objects.update(last_used_at=timezone.now() - timedelta(hours=3))
    data = assert_json(poll(Client(), op.id, token), 401)
    assert data["error"]["code"] == "token_expired"


def test_revoked_token_is_401(alice):
    op = make_operation(alice)
    token = tokens.issue(op)
    tokens.revoke_for_user(alice.pk)
    assert assert_json(poll(Client(), op.id, token), 401)["error"]["code"] == "token_revoked"


def test_token_for_another_operation_is_403(alice):
    mine, other = make_operation(alice), make_operation(alice)
    token = tokens.issue(mine)
    data = assert_json(poll(Client(), other.id, token), 403)
    assert data["error"]["code"] == "token_wrong_operation"


def test_token_of_another_user_is_403(alice, bob):
    bobs = make_operation(bob)
    alices = make_operation(alice)
    token_of_alice = tokens.issue(alices)
    assert assert_json(poll(Client(), bobs.id, token_of_alice), 403)["error"]["code"] == "token_wrong_operation"


def test_unknown_operation_is_404(alice):
    token = tokens.issue(make_operation(alice))
    assert assert_json(poll(Client(), "op_nope_123", token), 404)["error"]["code"] == "not_found"
    client = Client()
    client.force_login(alice)
    assert assert_json(poll(client, "op_nope_123"), 404)["error"]["code"] == "not_found"


def test_token_in_the_query_string_is_refused_and_revoked(alice):
    op = make_operation(alice)
    token = tokens.issue(op)
    response = Client().get(url(op.id), {"token": token})
    data = assert_json(response, 400)
    assert data["error"]["code"] == "token_in_query" and "X-Temp-Token" in data["error"]["message"]
    # It is in someone's logs now: it does not work any more, even in the header.
    assert assert_json(poll(Client(), op.id, token), 401)["error"]["code"] == "token_revoked"


def test_staff_session_reads_own_operation_and_superuser_everyones(alice, bob, django_user_model):
    mine, his = make_operation(alice), make_operation(bob)
    client = Client()
    client.force_login(alice)
    assert assert_json(poll(client, mine.id), 200)["id"] == mine.id
    assert assert_json(poll(client, his.id), 403)["error"]["code"] == "not_your_operation"
    root = django_user_model.objects.create_superuser("root", password="pw")
    client.force_login(root)
    assert assert_json(poll(client, his.id), 200)["id"] == his.id


def test_non_staff_session_is_403(alice, django_user_model):
    op = make_operation(alice)
    client = Client()
    client.force_login(django_user_model.objects.create_user("eve", password="pw"))
    assert assert_json(poll(client, op.id), 403)["error"]["code"] == "forbidden"


def test_token_works_after_the_session_expired_or_was_deleted(alice):
    op = make_operation(alice, status="running")
    token = tokens.issue(op)
    client = Client()
    client.force_login(alice)
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    assert assert_json(poll(client, op.id, token), 200)["id"] == op.id
    assert assert_json(poll(client, op.id), 401)["session_expired"] is True
    Session.objects.all().delete()
    assert assert_json(poll(client, op.id, token), 200)["id"] == op.id


def test_polling_never_extends_or_writes_the_session(alice):
    op = make_operation(alice, status="running")
    token = tokens.issue(op)
    client = Client()
    client.force_login(alice)
    before = Session.objects.get()
    for credential in (token, None, token):
        response = poll(client, op.id, credential)
        assert response.status_code == 200
        assert "sessionid" not in response.cookies  # no Set-Cookie: the expiry is not pushed back
    after = Session.objects.get()
    assert (after.session_key, after.expire_date, after.session_data) == (before.session_key, before.expire_date, before.session_data)


def test_never_a_redirect_whatever_the_credential(alice, django_user_model):
    op = make_operation(alice)
    eve = django_user_model.objects.create_user("eve", password="pw")
    anonymous, non_staff = Client(), Client()
    non_staff.force_login(eve)
    for client in (anonymous, non_staff):
        for token in (None, "junk"):
            response = poll(client, op.id, token)
            assert response.status_code in (401, 403) and response["Content-Type"] == "application/json"


def test_finished_never_goes_back_to_false(alice, tmp_path):
    op = make_operation(alice, lock_key="sqlite::x")
    token = tokens.issue(op)
    service.cancel(op, by="alice")  # queued: cancelled at once
    assert assert_json(poll(Client(), op.id, token), 200)["finished"] is True
    # Nothing that comes later can take it back: a worker picking it up, the watchdog.
    assert runner.run(op.id) is None
    watchdog.sweep()
    data = assert_json(poll(Client(), op.id, token), 200)
    assert data["finished"] is True and data["status"] == "cancelled"


def test_one_structured_log_line_per_request_without_the_token(alice, caplog):
    op = make_operation(alice)
    token = tokens.issue(op)
    client = Client()
    with caplog.at_level(logging.INFO, logger="dbkeeper.web.status"):
        poll(client, op.id, token)
        poll(client, op.id, "junk-token")
        poll(client, op.id)
    lines = [r.getMessage() for r in caplog.records if r.name == "dbkeeper.web.status"]
    assert len(lines) == 3
    prefix = tokens.prefix_of(token)
    assert lines[0].startswith(f"status op={op.id} auth=operation_token user=alice token={prefix} code=200 ms=")
    assert lines[1].startswith(f"status op={op.id} auth=none user=- token={tokens.prefix_of('junk-token')} code=401")
    assert lines[2].startswith(f"status op={op.id} auth=none user=- token=- code=401")
    assert token not in caplog.text and "junk-token" not in caplog.text


def test_status_messages_are_in_the_readers_language(alice):
    op = make_operation(alice, status="running", message="Restoring into a scratch copy; the live database is not touched.")
    token = tokens.issue(op)
    data = assert_json(poll(Client(), op.id, token, HTTP_ACCEPT_LANGUAGE="ar"), 200)
    assert data["message"] != op.message and any("\u0600" <= c <= "\u06ff" for c in data["message"])
    assert any("\u0600" <= c <= "\u06ff" for c in data["events"][0]["message"])
    error = assert_json(poll(Client(), op.id, HTTP_ACCEPT_LANGUAGE="ar"), 401)["error"]["message"]
    assert any("\u0600" <= c <= "\u06ff" for c in error)


def guarded(view):
    return SessionMiddleware(SessionGuardMiddleware(view))


def test_session_deleted_during_a_json_request_is_not_a_400(alice):
    """What a logout in another tab, or a restore of the sessions table, does
    to a request that is running: the guard stops the doomed save."""
    store = SessionStore()
    store["_auth_user_id"] = str(alice.pk)
    store.create()

    def view(request):
        mark_json(request)
        request.session["seen"] = True
        Session.objects.filter(session_key=store.session_key).delete()
        return JsonResponse({"ok": True})

    request = RequestFactory().get("/anything/", HTTP_COOKIE=f"sessionid={store.session_key}")
    response = guarded(view)(request)
    assert response.status_code == 200 and json.loads(response.content) == {"ok": True}
    # Without the guard, Django raises SessionInterrupted (a bare 400).
    request = RequestFactory().get("/anything/", HTTP_COOKIE=f"sessionid={store.session_key}")
    store.create()
    request.COOKIES["sessionid"] = store.session_key
    with pytest.raises(SessionInterrupted):
        SessionMiddleware(view)(request)


def test_the_stored_ending_sentence_is_shown_in_the_readers_language(alice):
    from dbkeeper.operations.signins import SIGN_IN_AGAIN

    op = make_operation(alice, status="succeeded", message=SIGN_IN_AGAIN.english(), message_data=SIGN_IN_AGAIN.to_json(),
                        result={"sign_in_again": True, "message": SIGN_IN_AGAIN.to_json()})
    token = tokens.issue(op)
    english = assert_json(poll(Client(), op.id, token, HTTP_ACCEPT_LANGUAGE="en"), 200)
    assert english["result"]["message"] == english["message"] == SIGN_IN_AGAIN.english()
    arabic = assert_json(poll(Client(), op.id, token, HTTP_ACCEPT_LANGUAGE="ar"), 200)
    assert arabic["result"]["message"] == arabic["message"] != SIGN_IN_AGAIN.english()
    assert any("\u0600" <= c <= "\u06ff" for c in arabic["result"]["message"])

    # A record written before sentences were stored as data: its English text, translated as it is.
    Operation.objects.filter(pk=op.pk).update(message_data=None, result={"message": SIGN_IN_AGAIN.english()})
    older = assert_json(poll(Client(), op.id, token, HTTP_ACCEPT_LANGUAGE="ar"), 200)
    assert older["result"]["message"] == older["message"] == arabic["message"]


def test_a_polled_status_renders_stored_sentences_with_their_parameters(alice):
    """The token poll reads the operation in one raw query: the sentences'
    data must be part of it, or only fixed sentences would be translated."""
    waiting = Message(N_("Restore of %(source)s into %(target)s queued."), {"source": "shop.dump", "target": "shop"})
    error = Message(N_("The restore stopped on an unexpected error: %(error)s."), {"error": "boom"})
    op = make_operation(alice, status="failed", message=error.english(), message_data=error.to_json(),
                        error_code="internal_error", error_message=error.english(), error_data=error.to_json())
    op.add_event(waiting)
    token = tokens.issue(op)
    data = assert_json(poll(Client(), op.id, token, HTTP_ACCEPT_LANGUAGE="ar"), 200)
    with translation.override("ar"):
        assert data["message"] == data["error"]["message"] == error.render() != error.english()
        assert data["events"][-1]["message"] == waiting.render() != waiting.english()
    assert "boom" in data["error"]["message"]
