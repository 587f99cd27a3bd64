"""Targets that say how far they trust their backups: the settings' dict form,
the Target rows added with ``dbkeeper target add --trust-superuser``, and bad
input refused with a sentence."""

import pytest

from dbkeeper import targets
from dbkeeper.errors import TargetError

from .live import LiveServer
from .pgserver import PASSWORD


@pytest.mark.django_db
def test_a_target_in_the_settings_may_carry_trust_owner_and_extensions(settings, pg):
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {
        "plain": pg.url("shop"),
        "full": {"url": pg.url("shop"), "trust": "superuser", "owner": "shop_app", "extensions": ["bloom"]},
    }}
    plain, full = targets.resolve("plain"), targets.resolve("full")
    assert (plain.trust, plain.owner, plain.extensions) == ("", "", ())
    assert (full.trust, full.owner, full.extensions) == ("superuser", "shop_app", ("bloom",))
    assert full.spec == "full" and full.url.password == PASSWORD
    # A scratch copy keeps them: they decide how its content runs.
    scratch = full.scratch("op_x_123456789abc")
    assert (scratch.trust, scratch.owner, scratch.extensions) == ("superuser", "shop_app", ("bloom",))


@pytest.mark.django_db
@pytest.mark.parametrize("spec, sentence", [
    ({"url": "postgresql://u@h/db", "trusted": True}, "A target's settings have unknown keys: trusted."),
    ({"url": "postgresql://u@h/db", "trust": "yes"}, "A target's trust setting must be \"superuser\" or absent, not 'yes'."),
    ({"url": "postgresql://u@h/db", "extensions": "bloom"}, "A target's extensions setting must be a list"),
    ({"trust": "superuser"}, "No target database was given."),
])
def test_bad_target_settings_are_refused_with_a_sentence(settings, spec, sentence):
    settings.DBKEEPER = {**settings.DBKEEPER, "TARGETS": {"bad": spec}}
    with pytest.raises(TargetError) as caught:
        targets.resolve("bad")
    assert sentence in caught.value.message


@pytest.fixture
def server(tmp_path):
    return LiveServer(tmp_path / "data")


def test_target_add_can_trust_fully_name_an_owner_and_allow_extensions(server, pg):
    added = server.cli("target", "add", "shop", pg.url("shop"), "--trust-superuser", "--owner", "shop_app",
                       "--extension", "bloom", "--extension", "pg_buffercache")
    assert "added target shop" in added.stdout and "trusts its backups fully" in added.stderr
    server.cli("target", "add", "safe", pg.url("safe"))
    listed = server.cli("target", "list").stdout
    assert "FULLY" in listed and PASSWORD not in listed
    kept = server.python(
        "from dbkeeper.targets import resolve\n"
        "t = resolve('shop')\ns = resolve('safe')\n"
        "print(t.trust, t.owner, ','.join(t.extensions), repr(s.trust))")
    assert kept.strip().splitlines()[-1] == "superuser shop_app bloom,pg_buffercache ''"


@pytest.mark.django_db
def test_the_page_adds_a_target_that_trusts_its_backups_only_when_asked(django_user_model, pg):
    from django.test import Client

    root = django_user_model.objects.create_superuser("root-trust", password="pw-root-trust")
    client = Client(enforce_csrf_checks=False)
    client.force_login(root)

    def add(name, **extra):
        return client.post("/api/targets/", {"name": name, "url": pg.url(name), **extra}, content_type="application/json")

    assert add("plainly").json()["trust"] == ""
    assert add("truthy", trust_superuser="yes").json()["trust"] == ""  # only a real true counts
    assert add("trusting", trust_superuser=True).json()["trust"] == "superuser"
    assert targets.resolve("trusting").trust == "superuser" and targets.resolve("truthy").trust == ""
    page = client.get("/").content.decode()
    assert page.count("trusts its backups fully") == 1 and 'id="new-target-trust"' in page
