"""What the permission tests share: a user holding one permission (globally
or on one target), a signed-in client with its CSRF token, and JSON requests."""

import json

from django.test import Client
from django.utils.crypto import get_random_string

from dbkeeper.access import grants


def user_with(django_user_model, perm=None, target="", name="ann"):
    """A user who is not staff, holding ``perm`` (globally, or on ``target``)."""
    user = django_user_model.objects.create_user(name, password="pw")
    if perm:
        grants.grant(name, perm, target)
    return django_user_model.objects.get(pk=user.pk)


def csrf_client(user):
    """A signed-in client and its CSRF token (set directly: a user without
    permissions gets no page that would set it)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    token = get_random_string(32)
    client.cookies["csrftoken"] = token
    return client, token


def send(client, csrf, method, address, **body):
    """A JSON request (POST, PATCH, DELETE) with the CSRF header."""
    return client.generic(method, address, json.dumps(body), content_type="application/json",
                          HTTP_X_CSRFTOKEN=csrf)


def post(client, csrf, address, **body):
    return client.post(address, body, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)


def assert_refused(response, what=""):
    """403 JSON whose sentence says what may not be done."""
    assert response.status_code == 403, (what, response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), what
    error = response.json()["error"]
    assert error["code"] == "forbidden" and error["message"].startswith("You may not"), (what, error)
