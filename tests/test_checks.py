"""dbkeeper's system check: a restorable alias that keeps its connections
without health checks is warned about, as ``manage.py check`` shows it."""

import pytest
from django.core.checks import Warning, run_checks
from django.test import override_settings

from dbkeeper.checks import kept_connection_warnings

PG = {"ENGINE": "django.db.backends.postgresql", "NAME": "shop"}
SQLITE = {"ENGINE": "django.db.backends.sqlite3", "NAME": "shop.sqlite3"}


def ids(warnings):
    return [w.id for w in warnings]


@pytest.mark.parametrize("max_age", [600, None])
def test_kept_connections_without_health_checks_are_warned_about(max_age):
    databases = {"default": {**PG, "CONN_MAX_AGE": max_age}}
    [warning] = kept_connection_warnings(databases, {"application": "alias:default"})
    assert isinstance(warning, Warning) and warning.id == "dbkeeper.W001"
    assert warning.obj == "DATABASES['default']"
    kept = "for 600 s (CONN_MAX_AGE)" if max_age else "for ever (CONN_MAX_AGE = None)"
    assert warning.msg == (f"DATABASES['default'] keeps its connections {kept} without CONN_HEALTH_CHECKS = True, "
                           "and dbkeeper restores it (target 'application').")
    assert 'DATABASES[\'default\']["CONN_HEALTH_CHECKS"] = True' in warning.hint


@pytest.mark.parametrize("db", [
    {**PG, "CONN_MAX_AGE": 600, "CONN_HEALTH_CHECKS": True},  # as the README says
    {**PG, "CONN_MAX_AGE": 0},  # connections closed after each request
    PG,  # Django's default: CONN_MAX_AGE = 0
    {**SQLITE, "CONN_MAX_AGE": 600},  # restored in place: kept connections stay good
])
def test_no_warning_when_kept_connections_are_safe(db):
    assert kept_connection_warnings({"default": db}, {"application": "alias:default"}) == []


def test_only_aliases_that_a_target_restores_are_looked_at():
    kept = {**PG, "CONN_MAX_AGE": 600}
    databases = {"default": kept, "reports": kept, "dbkeeper": kept}
    targets = {"reports-by-url": "postgresql://u@h/reports", "control": "alias:dbkeeper", "gone": "alias:nowhere"}
    assert kept_connection_warnings(databases, targets, control_alias="dbkeeper") == []
    # A target written as a dict (with options beside its database) counts too, once per alias.
    warnings = kept_connection_warnings(databases, {"a": {"url": "alias:reports"}, "b": " alias:reports"})
    assert ids(warnings) == ["dbkeeper.W001"] and "(target 'a', 'b')" in warnings[0].msg
    assert kept_connection_warnings(databases, None) == [] and kept_connection_warnings(databases, ["x"]) == []


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_the_check_is_registered_with_the_app(settings):
    # The test settings restore nothing; a project whose default keeps connections and is a target:
    databases = {**settings.DATABASES, "shop": {**PG, "CONN_MAX_AGE": 600}}
    with override_settings(DATABASES=databases, DBKEEPER={**settings.DBKEEPER, "TARGETS": {"shop": "alias:shop"}}):
        assert ids(run_checks(tags=["dbkeeper"])) == ["dbkeeper.W001"]
    assert run_checks(tags=["dbkeeper"]) == []
