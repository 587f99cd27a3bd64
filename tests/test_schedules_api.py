"""The schedules API and `dbkeeper schedule`: create with the next five
times, list, read, change, pause, resume, remove, preview; bad input gets a
JSON sentence and changes nothing; each change is an audit row."""

import json

import pytest
from django.test import Client

from dbkeeper.audit.models import AuditEntry
from dbkeeper.schedules.models import Schedule

from .live import run_dbkeeper
from .schedule_helpers import sqlite_targets  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)
API = "/api/schedules/"


@pytest.fixture
def client(alice):
    c = Client()
    c.force_login(alice)
    return c


def send(client, method, url, body=None, **extra):
    return getattr(client, method)(url, data=json.dumps(body) if body is not None else None,
                                   content_type="application/json", **extra)


def test_create_list_read_change_pause_resume_and_remove(client, sqlite_targets):
    created = send(client, "post", API, {"name": "nightly", "target": "t0", "cron": "0 3 * * *",
                                         "timezone": "Europe/Paris", "retention": {"keep_daily": 7},
                                         "verify_every": 2})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["name"] == "nightly" and body["enabled"] is True and body["retention"] == {"keep_daily": 7}
    assert len(body["next_times"]) == 5 and all(t.endswith(("+01:00", "+02:00")) and "T03:00:00" in t
                                                 for t in body["next_times"])
    sid = body["id"]
    listed = client.get(API).json()["schedules"]
    assert [s["id"] for s in listed] == [sid] and listed[0]["last_run"] is None
    one = client.get(f"{API}{sid}/").json()
    assert one["runs"] == [] and one["cron"] == "0 3 * * *"
    assert client.get(f"{API}nightly/").json()["id"] == sid  # by name too

    changed = send(client, "patch", f"{API}{sid}/", {"cron": "15 4 * * 1-5"})
    assert changed.status_code == 200 and changed.json()["cron"] == "15 4 * * 1-5"
    paused = send(client, "patch", f"{API}{sid}/", {"enabled": False}).json()
    assert paused["enabled"] is False and paused["next_times"] == []
    assert send(client, "patch", f"{API}{sid}/", {"enabled": True}).json()["enabled"] is True
    assert send(client, "delete", f"{API}{sid}/").json() == {"deleted": True}
    assert Schedule.objects.count() == 0
    assert client.get(f"{API}{sid}/").status_code == 404
    actions = list(AuditEntry.objects.filter(action__startswith="schedule.").values_list("action", flat=True))
    assert sorted(actions) == sorted(["schedule.add", "schedule.edit", "schedule.pause", "schedule.resume",
                                      "schedule.remove"])
    assert AuditEntry.objects.filter(action="schedule.add", username="alice", target="t0").exists()


@pytest.mark.parametrize("body,status,code", [
    ({"name": "n", "target": "t0", "cron": "0 25 * * *"}, 400, "invalid_cron"),
    ({"name": "n", "target": "t0", "cron": "0 3 * *"}, 400, "invalid_cron"),
    ({"name": "n", "target": "t0", "cron": "0 3 * * *", "timezone": "Nowhere/City"}, 400, "invalid_timezone"),
    ({"name": "n", "target": "ghost", "cron": "0 3 * * *"}, 400, "target_unknown"),
    ({"name": "n", "target": "t0", "cron": "0 3 * * *", "retention": {"keep_within": "soon"}}, 400, "invalid_schedule"),
    ({"name": "n", "target": "t0", "cron": "0 3 * * *", "enabled": "no"}, 400, "invalid_schedule"),
])
def test_bad_input_gets_a_sentence_and_changes_nothing(client, sqlite_targets, body, status, code):
    answer = send(client, "post", API, body)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["code"] == code and len(error["message"]) > 20
    assert Schedule.objects.count() == 0
    assert not AuditEntry.objects.filter(action__startswith="schedule.").exists()


def test_a_second_schedule_of_the_same_name_is_refused(client, sqlite_targets):
    body = {"name": "n", "target": "t0", "cron": "0 3 * * *"}
    assert send(client, "post", API, body).status_code == 201
    again = send(client, "post", API, {**body, "target": "t1"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "schedule_exists"
    assert Schedule.objects.get().target == "t0"


def test_a_bad_edit_changes_nothing(client, sqlite_targets):
    sid = send(client, "post", API, {"name": "n", "target": "t0", "cron": "0 3 * * *"}).json()["id"]
    answer = send(client, "patch", f"{API}{sid}/", {"cron": "every day", "name": "renamed"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_cron"
    schedule = Schedule.objects.get()
    assert (schedule.name, schedule.cron) == ("n", "0 3 * * *")


def test_preview_gives_the_next_five_times_without_saving(client, sqlite_targets):
    answer = send(client, "post", f"{API}preview/", {"cron": "*/15 * * * *", "timezone": "Asia/Kolkata"})
    times = answer.json()["next_times"]
    assert answer.status_code == 200 and len(times) == 5 and all(t.endswith("+05:30") for t in times)
    assert send(client, "post", f"{API}preview/", {"cron": "*/15 * *"}).json()["error"]["code"] == "invalid_cron"
    assert Schedule.objects.count() == 0


def test_the_api_needs_a_staff_user(sqlite_targets, django_user_model):
    assert Client().get(API).status_code == 401
    plain = Client()
    plain.force_login(django_user_model.objects.create_user("carol", password="pw-carol"))
    assert plain.get(API).status_code == 403


def test_the_schedules_page_lists_them_in_english_and_arabic(client, sqlite_targets):
    send(client, "post", API, {"name": "nightly", "target": "t0", "cron": "0 3 * * *"})
    page = client.get("/schedules/")
    assert page.status_code == 200 and b'id="schedule-form"' in page.content and b"nightly" in page.content
    arabic = client.get("/schedules/", HTTP_ACCEPT_LANGUAGE="ar")
    assert 'dir="rtl"' in arabic.content.decode()


def cli(tmp_path, *args):
    return run_dbkeeper(tmp_path, *args)


def test_the_command_line_adds_lists_edits_pauses_resumes_and_removes(tmp_path):
    from .builders import make_sqlite

    db = make_sqlite(str(tmp_path / "notes.sqlite3"))
    assert cli(tmp_path, "target", "add", "notes", f"sqlite:///{db}").returncode == 0
    empty = cli(tmp_path, "schedule", "list", "--json")
    assert empty.returncode == 0 and json.loads(empty.stdout) == []
    added = cli(tmp_path, "schedule", "add", "nightly", "--target", "notes", "--cron", "30 2 * * *",
                "--timezone", "Europe/Paris", "--keep-daily", "7", "--keep-within", "30d", "--verify-every", "3")
    assert added.returncode == 0, added.stderr
    assert "next runs:" in added.stdout and added.stdout.count("02:30") == 5
    rows = json.loads(cli(tmp_path, "schedule", "list", "--json").stdout)
    assert rows[0]["name"] == "nightly" and rows[0]["retention"] == {"keep_daily": 7, "keep_within": "30d"}
    assert rows[0]["verify_every"] == 3 and len(rows[0]["next_times"]) == 5
    table = cli(tmp_path, "schedule", "list")
    assert rows[0]["id"] in table.stdout and "nightly" in table.stdout

    edited = cli(tmp_path, "schedule", "edit", "nightly", "--cron", "0 4 * * *", "--no-retention", "--json")
    assert edited.returncode == 0 and json.loads(edited.stdout)["retention"] == {}
    assert "paused" in cli(tmp_path, "schedule", "pause", "nightly").stdout
    assert json.loads(cli(tmp_path, "schedule", "list", "--json").stdout)[0]["enabled"] is False
    assert "resumed" in cli(tmp_path, "schedule", "resume", rows[0]["id"]).stdout
    preview = cli(tmp_path, "schedule", "preview", "0 12 * * 6", "--timezone", "UTC", "--json")
    assert len(json.loads(preview.stdout)) == 5

    bad = cli(tmp_path, "schedule", "add", "broken", "--target", "notes", "--cron", "0 3 * *")
    assert bad.returncode == 1 and "five fields" in bad.stderr
    unknown = cli(tmp_path, "schedule", "pause", "ghost")
    assert unknown.returncode == 1 and "There is no schedule ghost." in unknown.stderr
    assert "removed schedule nightly" in cli(tmp_path, "schedule", "remove", "nightly").stdout
    assert json.loads(cli(tmp_path, "schedule", "list", "--json").stdout) == []
