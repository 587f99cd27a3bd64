"""The lean path of a progress poll (web.pollpath): a poll with a working
operation token skips the session, user, CSRF and messages middleware and the
URL resolver, and is answered exactly as the full path answers it; anything
else takes the full path."""

import json

import pytest
from django.core.exceptions import MiddlewareNotUsed
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone
from django.utils.http import parse_http_date

from dbkeeper.access import operation_tokens as tokens
from dbkeeper.messages import N_
from dbkeeper.operations.models import Operation
from dbkeeper.web.pollpath import LeanPollMiddleware

pytestmark = pytest.mark.django_db(transaction=True)

LEAN = "dbkeeper.web.pollpath.LeanPollMiddleware"
# Headers that hold the time of the answer.
TIMED = {"Date", "Expires"}


def running_operation(user):
    op = Operation.objects.create(user_id=str(user.pk), username=user.get_username(), source_name="shop.dump",
                                  target_display="postgresql://app@db/shop", status="running", stage="restoring",
                                  percent=12.5, done=125, total=1000, unit="bytes", started_at=timezone.now(),
                                  message="Restoring into a scratch copy; the live database is not touched.")
    op.add_event(N_("Restore of %(source)s into %(target)s queued."),
                 params={"source": "shop.dump", "target": "postgresql://app@db/shop"})
    return op


def status_url(op):
    return f"/restore-progress/{op.id}/status/"


def answer(response):
    headers = {k: v for k, v in response.items() if k not in TIMED}
    return response.status_code, headers, response.content


def full_path_middleware(settings):
    assert settings.MIDDLEWARE[0] == LEAN  # the standalone server has it, first
    return settings.MIDDLEWARE[1:]


@pytest.mark.parametrize("language", ["en", "ar"])
def test_a_token_poll_is_answered_as_the_full_path_answers_it(alice, settings, language):
    op = running_operation(alice)
    token = tokens.issue(op)
    headers = {"HTTP_X_TEMP_TOKEN": token, "HTTP_ACCEPT_LANGUAGE": language}
    lean = Client().get(status_url(op), **headers)
    with override_settings(MIDDLEWARE=full_path_middleware(settings)):
        full = Client().get(status_url(op), **headers)
        full_unchanged = Client().get(status_url(op), HTTP_IF_NONE_MATCH=full["ETag"], **headers)
    lean_unchanged = Client().get(status_url(op), HTTP_IF_NONE_MATCH=lean["ETag"], **headers)
    assert lean.status_code == 200 and lean_unchanged.status_code == 304
    assert answer(lean) == answer(full)
    assert answer(lean_unchanged) == answer(full_unchanged)
    assert lean["Content-Language"] == language and "no-store" in lean["Cache-Control"]
    assert lean["X-Frame-Options"] == "DENY" and lean["X-Content-Type-Options"] == "nosniff"


def test_the_lean_path_answers_without_the_rest_of_the_stack(alice):
    op = running_operation(alice)
    token = tokens.issue(op)

    def full_path(request):
        pytest.fail("a poll with a working token took the full path")

    request = RequestFactory().get(status_url(op), HTTP_X_TEMP_TOKEN=token)
    response = LeanPollMiddleware(full_path)(request)
    assert response.status_code == 200 and json.loads(response.content)["id"] == op.id
    assert not hasattr(request, "session") and not hasattr(request, "user")


@pytest.mark.parametrize("case", ["no token", "unknown token", "revoked token", "other operation", "query string",
                                  "another address", "POST"])
def test_everything_else_takes_the_full_path(alice, case):
    op, other = running_operation(alice), running_operation(alice)
    token = tokens.issue(op)
    path, headers = status_url(op), {"HTTP_X_TEMP_TOKEN": token}
    if case == "no token":
        headers = {}
    elif case == "unknown token":
        headers = {"HTTP_X_TEMP_TOKEN": "not-a-token"}
    elif case == "revoked token":
        tokens.revoke_raw(token, reason="logout")
    elif case == "other operation":
        path = status_url(other)
    elif case == "query string":
        path += "?lang=en"
    elif case == "another address":
        path = f"/restore-progress/{op.id}/"
    factory = RequestFactory()
    request = factory.post(path, **headers) if case == "POST" else factory.get(path, **headers)
    taken = []
    LeanPollMiddleware(lambda r: taken.append(r) or "full path")(request)
    assert taken == [request]


def test_the_full_path_still_says_why_a_token_is_refused(alice):
    op = running_operation(alice)
    token = tokens.issue(op)
    tokens.revoke_raw(token, reason="logout")
    response = Client().get(status_url(op), HTTP_X_TEMP_TOKEN=token)
    assert response.status_code == 401 and response.json()["error"]["code"] == "token_revoked"


def test_with_middleware_it_does_not_know_every_poll_takes_the_full_path(settings):
    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, "example.middleware.Unknown"]):
        with pytest.raises(MiddlewareNotUsed):
            LeanPollMiddleware(lambda request: None)


def test_a_cached_operation_is_read_again_once_it_changed(alice):
    op = running_operation(alice)
    token = tokens.issue(op)
    first = Client().get(status_url(op), HTTP_X_TEMP_TOKEN=token).json()
    assert first["percent"] == 12.5
    Operation.objects.filter(pk=op.pk).update(percent=60.0, updated_at=timezone.now())
    assert Client().get(status_url(op), HTTP_X_TEMP_TOKEN=token).json()["percent"] == 60.0
    Operation.objects.filter(pk=op.pk).update(status="succeeded", percent=100.0, updated_at=timezone.now(),
                                              finished_at=timezone.now())
    last = Client().get(status_url(op), HTTP_X_TEMP_TOKEN=token).json()
    assert (last["percent"], last["status"], last["finished"]) == (100.0, "succeeded", True)


def test_the_status_views_no_cache_headers_are_djangos():
    from django.http import HttpResponse, HttpResponseNotModified
    from django.utils.cache import add_never_cache_headers

    from dbkeeper.web.status import never_cached

    for make in (HttpResponse, HttpResponseNotModified, lambda: HttpResponse(headers={"Cache-Control": "public"})):
        ours, djangos = never_cached(lambda request: make())(None), make()
        add_never_cache_headers(djangos)
        assert ours["Cache-Control"] == djangos["Cache-Control"]
        assert abs(parse_http_date(ours["Expires"]) - parse_http_date(djangos["Expires"])) <= 1


def test_an_operation_without_events_is_answered_from_the_tokens_one_query(alice, settings,
                                                                             django_assert_max_num_queries):
    op = running_operation(alice)
    op.events.all().delete()
    token = tokens.issue(op)
    assert Client().get(status_url(op), HTTP_X_TEMP_TOKEN=token).json()["events"] == []
    Operation.objects.filter(pk=op.pk).update(percent=20.0, updated_at=timezone.now())
    # The next poll: the token, its operation and its newest event id, read together, and nothing more.
    with django_assert_max_num_queries(1):
        lean = Client().get(status_url(op), HTTP_X_TEMP_TOKEN=token)
    assert lean.status_code == 200 and lean.json()["percent"] == 20.0
    with override_settings(MIDDLEWARE=full_path_middleware(settings)):
        full = Client().get(status_url(op), HTTP_X_TEMP_TOKEN=token)
    # Read there or by the full path, "no events" is the same state: the same ETag, and 304 on either path.
    assert full["ETag"] == lean["ETag"]
    assert Client().get(status_url(op), HTTP_X_TEMP_TOKEN=token, HTTP_IF_NONE_MATCH=full["ETag"]).status_code == 304
