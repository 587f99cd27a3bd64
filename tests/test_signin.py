"""Sign-in protection: accounts and addresses locked after too many failures
(the right password refused meanwhile, with a sentence that says until
when; others unaffected; everything in the audit log), TOTP two-factor
sign-in, the Content-Security-Policy on every page (and the pages working
under it in Chromium), and the settings behind a TLS proxy."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pyotp
import pytest
from django.test import Client
from django.utils import timezone

from dbkeeper.access import twofactor
from dbkeeper.access.csp import HEADER
from dbkeeper.access.signin import SigninLock
from dbkeeper.audit.models import AuditEntry


POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
          "form-action 'self'; base-uri 'self'")


@pytest.fixture
def limits(settings):
    settings.DBKEEPER = {**settings.DBKEEPER, "SIGNIN_MAX_FAILURES": 3, "SIGNIN_MAX_FAILURES_PER_ADDRESS": 5,
                         "SIGNIN_WINDOW_SECONDS": 900, "SIGNIN_LOCKOUT_SECONDS": 600}


def sign_in(username, password, address="10.0.0.1"):
    client = Client(REMOTE_ADDR=address)
    response = client.post("/login/", {"username": username, "password": password})
    return client, response


def signed_in(client):
    return client.get("/operations/").status_code == 200


def audit(action, **filters):
    return list(AuditEntry.objects.filter(action=action, **filters).order_by("number"))


@pytest.mark.django_db(transaction=True)
def test_an_account_is_locked_after_the_configured_failures(alice, bob, limits):
    for _ in range(2):
        assert sign_in("alice", "wrong")[1].status_code == 200
    assert not SigninLock.objects.exists()
    _, third = sign_in("alice", "wrong")
    assert "this account is locked until" in third.content.decode()
    lock = SigninLock.objects.get(scope="account", key="alice")
    assert timedelta(seconds=590) < lock.until - timezone.now() <= timedelta(seconds=600)

    # The right password is refused meanwhile, from any address, with the sentence and the time.
    client, response = sign_in("alice", "pw-alice", address="10.7.7.7")
    text = response.content.decode()
    assert response.status_code == 200 and not signed_in(client)
    assert "Too many failed sign-ins: this account is locked until" in text
    assert timezone.localtime(lock.until).strftime("%H:%M:%S") in text
    # Another account, from the same address, is not affected.
    client, response = sign_in("bob", "pw-bob")
    assert response.status_code == 302 and signed_in(client)

    failed = audit("signin.failed", username="alice")
    assert [e.outcome for e in failed] == ["failed", "failed", "failed", "locked"]
    assert failed[-1].address == "10.7.7.7" and "locked until" in json.dumps(failed[-1].sentence)
    lockout = audit("signin.lockout")
    assert len(lockout) == 1 and lockout[0].username == "alice" and lockout[0].details["scope"] == "account"
    assert lockout[0].outcome == "locked" and lockout[0].address == "10.0.0.1"

    # When the lock ends, the right password works again.
    SigninLock.objects.update(until=timezone.now() - timedelta(seconds=1))
    client, response = sign_in("alice", "pw-alice")
    assert response.status_code == 302 and signed_in(client)


@pytest.mark.django_db(transaction=True)
def test_an_address_is_locked_after_its_higher_limit(alice, limits):
    for n in range(5):
        sign_in(f"nobody{n}", "guess", address="10.6.6.6")  # 5 accounts, one failure each
    lock = SigninLock.objects.get(scope="address")
    assert lock.key == "10.6.6.6" and not SigninLock.objects.filter(scope="account").exists()
    client, response = sign_in("alice", "pw-alice", address="10.6.6.6")
    assert "from your address" in response.content.decode() and not signed_in(client)
    # The same account from another address is not affected.
    client, response = sign_in("alice", "pw-alice", address="10.5.5.5")
    assert response.status_code == 302 and signed_in(client)
    assert audit("signin.lockout")[0].details["scope"] == "address"


@pytest.mark.django_db(transaction=True)
def test_a_success_clears_the_accounts_count(alice, limits):
    sign_in("alice", "wrong")
    sign_in("alice", "wrong")
    sign_in("alice", "pw-alice")
    sign_in("alice", "wrong")
    sign_in("alice", "wrong")
    assert not SigninLock.objects.exists()


# -- two-factor ---------------------------------------------------------------------------------

def enrolled(user):
    _, uri = twofactor.enrol(user)
    assert uri.startswith("otpauth://totp/") and "issuer=dbkeeper" in uri
    return pyotp.parse_uri(uri)


@pytest.mark.django_db(transaction=True)
def test_a_totp_enrolled_user_needs_the_code(alice):
    totp = enrolled(alice)
    client, response = sign_in("alice", "pw-alice")
    assert response.status_code == 302 and response["Location"] == "/login/code/"
    assert not signed_in(client)  # the password alone opens nothing
    page = client.get("/login/code/").content.decode()
    assert 'name="code"' in page and "alice" in page

    wrong = client.post("/login/code/", {"code": "000000" if totp.now() != "000000" else "111111"})
    assert "That code is not right" in wrong.content.decode() and not signed_in(client)
    assert audit("signin.failed", username="alice")[-1].details == {"step": "code"}
    assert not audit("signin")

    code = totp.now()
    response = client.post("/login/code/", {"code": code})
    assert response.status_code == 302 and signed_in(client)
    assert len(audit("signin", username="alice")) == 1

    # A code is good once.
    other, _ = sign_in("alice", "pw-alice")
    assert "That code is not right" in other.post("/login/code/", {"code": code}).content.decode()
    assert not signed_in(other)
    # No password step: no code step either.
    assert Client().post("/login/code/", {"code": totp.now()}).status_code == 302
    # The seed is stored encrypted.
    assert totp.secret not in twofactor.TotpDevice.objects.get().secret_encrypted


@pytest.mark.django_db(transaction=True)
def test_superusers_must_enrol_when_two_factor_is_required(settings, django_user_model):
    settings.DBKEEPER = {**settings.DBKEEPER, "REQUIRE_2FA": True}
    root = django_user_model.objects.create_superuser("root", password="pw-root")
    client, response = sign_in("root", "pw-root")
    assert "dbkeeper 2fa enrol root" in response.content.decode() and not signed_in(client)
    totp = enrolled(root)
    client, response = sign_in("root", "pw-root")
    assert response["Location"] == "/login/code/"
    client.post("/login/code/", {"code": totp.now()})
    assert signed_in(client)


def test_enrol_on_the_command_line_prints_the_uri(tmp_path):
    env = {**os.environ, "DBKEEPER_DATA_DIR": str(tmp_path / "data")}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def dbkeeper(*args):
        return subprocess.run([sys.executable, "-m", "dbkeeper", *args], env=env, capture_output=True, text=True,
                              timeout=120)

    assert dbkeeper("createadmin", "admin").returncode == 0
    result = dbkeeper("2fa", "enrol", "admin")
    assert result.returncode == 0, result.stderr
    assert pyotp.parse_uri(result.stdout.strip()).now().isdigit()
    assert "no user named ghost" in dbkeeper("2fa", "enrol", "ghost").stderr
    assert "removed" in dbkeeper("2fa", "remove", "admin").stdout


# -- Content-Security-Policy ----------------------------------------------------------------------

@pytest.mark.django_db
def test_every_page_and_answer_carries_the_policy(alice, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="pw-root")
    anonymous = Client()
    for path in ("/login/", "/api/operations/", "/restore-progress/op_x/", "/api/nowhere/"):
        assert anonymous.get(path)[HEADER] == POLICY, path
    client = Client()
    client.force_login(root)
    for path in ("/", "/operations/", "/uploads/new/", "/audit/", "/api/targets/", "/api/audit/"):
        response = client.get(path)
        assert response.status_code == 200 and response[HEADER] == POLICY, path


@pytest.fixture(scope="module")
def site(web_server):
    web_server.create_user("boss", "pw-boss", superuser=True)
    return web_server


@pytest.mark.parametrize("path", ["/", "/operations/", "/uploads/new/", "/audit/", "/restore-progress/op_nothing/"])
def test_pages_work_under_the_policy_in_chromium(site, context, path):
    page = context.new_page()
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(site.url("/login/"))
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-boss")
    page.click("#login-button")
    page.wait_for_url(site.url("/dashboard/"))
    response = page.goto(site.url(path))
    assert response.headers["content-security-policy"] == POLICY
    page.wait_for_load_state("networkidle")
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    if path != "/restore-progress/op_nothing/":  # that one's script reports the missing operation (a 404)
        assert not problems, problems


def test_an_inline_script_is_blocked_by_the_policy(site, context):
    """The policy is enforced, not only sent: a script injected into a page does not run."""
    page = context.new_page()
    violations = []
    page.on("console", lambda msg: violations.append(msg.text) if msg.type == "error" else None)
    page.goto(site.url("/login/"))
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.pwned = 1';
                             document.body.appendChild(s); }""")
    assert page.evaluate("() => window.pwned") is None
    assert any("Content Security Policy" in v for v in violations), violations


def test_behind_a_tls_proxy_one_setting_trusts_the_scheme_and_secures_cookies(tmp_path):
    code = ("from django.conf import settings as s; import json; print(json.dumps([s.SECURE_PROXY_SSL_HEADER, "
            "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.DBKEEPER.get('CLIENT_ADDRESS_HEADER')]))")
    env = {**os.environ, "DBKEEPER_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "dbkeeper.site.settings"}

    def read(**extra):
        out = subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + code],
                             env={**env, **extra}, capture_output=True, text=True, check=True)
        return json.loads(out.stdout)

    assert read(DBKEEPER_BEHIND_TLS_PROXY="1") == [["HTTP_X_FORWARDED_PROTO", "https"], True, True, 31536000,
                                                   "HTTP_X_FORWARDED_FOR"]
    assert read() == [None, False, False, 0, None]


@pytest.mark.django_db(transaction=True)
def test_behind_a_proxy_the_address_is_the_one_the_proxy_added(alice, settings):
    settings.DBKEEPER = {**settings.DBKEEPER, "CLIENT_ADDRESS_HEADER": "HTTP_X_FORWARDED_FOR"}
    Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9").post(
        "/login/", {"username": "alice", "password": "wrong"})
    assert audit("signin.failed")[0].address == "203.0.113.9"
    assert SigninLock.objects.count() == 0 and AuditEntry.objects.filter(address="6.6.6.6").count() == 0
