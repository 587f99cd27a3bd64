"""Operation tokens: what they are made of, how they expire, what they allow,
and that only their hash is ever kept or logged."""

import logging
import re
import string
from datetime import timedelta

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from dbkeeper import conf
from dbkeeper.access import operation_tokens as tokens
from dbkeeper.access.operation_tokens import OperationToken, Verdict
from dbkeeper.operations.models import Operation

pytestmark = pytest.mark.django_db(transaction=True)


def make_operation(user, **fields):
    return Operation.objects.create(user_id=str(user.pk), username=user.get_username(), source_name="b.dump",
                                    target_display="sqlite:////tmp/x.db", **fields)


def dbkeeper_settings(settings, **values):
    settings.DBKEEPER = {**settings.DBKEEPER, **values}


def test_token_is_256_random_bits_and_only_its_sha256_is_stored(alice):
    op = make_operation(alice)
    raw = tokens.issue(op)
    # token_urlsafe(32): 43 URL-safe characters = 256 bits.
    assert len(raw) >= 43 and set(raw) <= set(string.ascii_letters + string.digits + "-_")
    assert tokens.issue(op) != raw
    row = OperationToken.objects.get(token_hash=tokens.hash_token(raw))
    assert re.fullmatch(r"[0-9a-f]{64}", row.token_hash)
    assert row.operation_id == op.id and row.user_id == str(alice.pk) and row.username == "alice"
    # No column of any table holds the raw token.
    with connections["default"].cursor() as cursor:
        for table in connections["default"].introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')
            for record in cursor.fetchall():
                assert not any(raw in str(value) for value in record), table


def test_a_fresh_token_reads_its_operation_and_nothing_else(alice):
    op, other = make_operation(alice), make_operation(alice)
    raw = tokens.issue(op)
    assert tokens.verify(raw, op.id).verdict == Verdict.OK
    assert tokens.verify(raw, other.id).verdict == Verdict.OTHER_OPERATION
    assert tokens.verify(raw + "x", op.id).verdict == Verdict.MISSING
    assert tokens.verify("", op.id).verdict == Verdict.MISSING


def test_idle_expiry_is_renewed_by_use(alice, settings):
    dbkeeper_settings(settings, TOKEN_IDLE_SECONDS=100)
    op = make_operation(alice)
    raw = tokens.issue(op)
    row = OperationToken.objects.get()
    # Last used 95 s ago: still valid, and this use renews it.
    OperationToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now() - timedelta(seconds=95))
    assert tokens.verify(raw, op.id).ok
    renewed = OperationToken.objects.get().last_used_at
    assert timezone.now() - renewed < timedelta(seconds=5)
    # Unused for longer than the idle period: expired.
    OperationToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now() - timedelta(seconds=101))
    assert tokens.verify(raw, op.id).verdict == Verdict.EXPIRED


def test_renewal_writes_are_throttled(alice, settings):
    dbkeeper_settings(settings, TOKEN_IDLE_SECONDS=7200)
    op = make_operation(alice)
    raw = tokens.issue(op)
    recent = timezone.now() - timedelta(seconds=30)
    OperationToken.objects.update(last_used_at=recent)
    assert tokens.verify(raw, op.id).ok
    assert OperationToken.objects.get().last_used_at == recent  # less than a minute: not written
    older = timezone.now() - timedelta(seconds=61)
    OperationToken.objects.update(last_used_at=older)
    assert tokens.verify(raw, op.id).ok
    assert OperationToken.objects.get().last_used_at > older


def test_absolute_cap_holds_even_when_used_all_the_time(alice, settings):
    dbkeeper_settings(settings, TOKEN_MAX_AGE_SECONDS=3600)
    op = make_operation(alice)
    raw = tokens.issue(op)
    OperationToken.objects.update(created_at=timezone.now() - timedelta(seconds=3599), last_used_at=timezone.now())
    assert tokens.verify(raw, op.id).ok
    OperationToken.objects.update(created_at=timezone.now() - timedelta(seconds=3601), last_used_at=timezone.now())
    assert tokens.verify(raw, op.id).verdict == Verdict.EXPIRED


def test_grace_period_after_the_operation_ends(alice, settings):
    dbkeeper_settings(settings, TOKEN_GRACE_AFTER_END_SECONDS=900)
    op = make_operation(alice)
    raw = tokens.issue(op)
    Operation.objects.filter(pk=op.pk).update(status="succeeded", finished_at=timezone.now() - timedelta(seconds=890))
    assert tokens.verify(raw, op.id).ok
    Operation.objects.filter(pk=op.pk).update(finished_at=timezone.now() - timedelta(seconds=901))
    assert tokens.verify(raw, op.id).verdict == Verdict.EXPIRED


def test_defaults_are_two_hours_idle_a_day_in_all_and_fifteen_minutes_after_the_end():
    assert conf.DEFAULTS["TOKEN_IDLE_SECONDS"] == 2 * 3600
    assert conf.DEFAULTS["TOKEN_MAX_AGE_SECONDS"] == 24 * 3600
    assert conf.DEFAULTS["TOKEN_GRACE_AFTER_END_SECONDS"] == 15 * 60


def test_logout_revokes_the_users_tokens_and_only_theirs(alice, bob):
    mine, his = make_operation(alice), make_operation(bob)
    raw_mine, raw_his = tokens.issue(mine), tokens.issue(his)
    client = Client()
    assert client.login(username="alice", password="pw-alice")
    response = client.post("/logout/")
    assert response.status_code == 302
    assert tokens.verify(raw_mine, mine.id).verdict == Verdict.REVOKED
    assert OperationToken.objects.get(token_hash=tokens.hash_token(raw_mine)).revoked_reason == "logout"
    assert tokens.verify(raw_his, his.id).ok


def test_a_token_whose_user_does_not_own_the_operation_is_refused(alice, django_user_model):
    op = make_operation(alice)
    raw = tokens.issue(op)
    # The operation changes hands (it cannot through the API, but the binding is checked anyway).
    Operation.objects.filter(pk=op.pk).update(user_id="999999")
    assert tokens.verify(raw, op.id).verdict == Verdict.OTHER_OPERATION


def test_logs_name_a_token_by_eight_hex_characters_of_its_hash(alice, caplog):
    op = make_operation(alice)
    with caplog.at_level(logging.DEBUG):
        raw = tokens.issue(op)
        tokens.verify(raw, op.id)
    text = caplog.text
    assert raw not in text and tokens.hash_token(raw) not in text
    assert tokens.prefix_of(raw) in text and len(tokens.prefix_of(raw)) == 8


def test_old_tokens_are_purged(alice, settings):
    dbkeeper_settings(settings, TOKEN_MAX_AGE_SECONDS=3600)
    op = make_operation(alice)
    tokens.issue(op)
    OperationToken.objects.update(created_at=timezone.now() - timedelta(days=2))
    tokens.issue(op)
    assert OperationToken.objects.count() == 1
