"""A target that cannot be reached is named as the user gave it, with its
database (never the maintenance database dbkeeper opens for CREATE/DROP
DATABASE, nor a password), and a refused or missing password says how to
give one."""

import pytest

from dbkeeper.dburl import DbUrl
from dbkeeper.errors import TargetError
from dbkeeper.targets.postgres import PostgresTarget

from .pgserver import PASSWORD, free_port

HINT = "Give its password with dbkeeper target add NAME URL --password-stdin, in the PGPASSWORD environment " \
       "variable or in ~/.pgpass."


@pytest.fixture
def no_ambient_password(monkeypatch, tmp_path):
    """libpq would otherwise find a password in the environment or ~/.pgpass."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))


def _error(url, spec=""):
    target = PostgresTarget(DbUrl.parse(url), spec)
    with pytest.raises(TargetError) as err:
        target.exists()  # opens the maintenance database, as CREATE/DROP DATABASE do
    return err.value


def test_a_wrong_password_names_the_target_and_its_database_and_says_how_to_give_one(pg, no_ambient_password):
    url = f"postgresql://{pg.user}:wrong-pw@127.0.0.1:{pg.port}/shop_live"
    error = _error(url, spec="shop")
    assert error.code == "target_password"
    assert error.message.startswith(
        f"Cannot connect to the target shop (postgresql://{pg.user}:***@127.0.0.1:{pg.port}/shop_live) "
        "(database shop_live): ")
    assert "password authentication failed" in error.message and error.message.endswith(HINT)
    assert "wrong-pw" not in error.message and PASSWORD not in error.message
    assert "template1" not in error.message and "/postgres)" not in error.message
    assert error.params["error"] in error.message  # libpq's own words, kept as a parameter


def test_no_password_gets_the_hint_instead_of_libpq_alone(pg, no_ambient_password):
    url = f"postgresql://{pg.user}@127.0.0.1:{pg.port}/shop_live"
    error = _error(url)
    assert error.code == "target_password"
    assert error.message.startswith(
        f"Cannot connect to the target postgresql://{pg.user}@127.0.0.1:{pg.port}/shop_live (database shop_live): ")
    assert "no password supplied" in error.message and error.message.endswith(HINT)


def test_a_closed_port_names_the_target_and_its_database_without_a_password_hint(pg):
    port = free_port()
    error = _error(f"postgresql://{pg.user}:{PASSWORD}@127.0.0.1:{port}/shop_live", spec="shop")
    assert error.code == "target_unreachable"
    assert error.message.startswith(
        f"Cannot connect to the target shop (postgresql://{pg.user}:***@127.0.0.1:{port}/shop_live) "
        "(database shop_live): ")
    assert "refused" in error.message.lower() and "password" not in error.message.split("): ", 1)[1]
    assert PASSWORD not in error.message


def test_a_scratch_copy_that_cannot_be_reached_is_named_by_its_live_target(pg, no_ambient_password):
    live = PostgresTarget(DbUrl.parse(f"postgresql://{pg.user}@127.0.0.1:{pg.port}/shop_live"), "shop")
    scratch = live.scratch("op_1234567890abcdef")
    with pytest.raises(TargetError) as err:
        scratch.connect()
    assert err.value.message.startswith("Cannot connect to the target shop (") and "(database shop_live)" in err.value.message
    assert "dbk_scratch" not in err.value.message.split(": ", 1)[0]
