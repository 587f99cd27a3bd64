"""The status endpoint on a real gunicorn process with dbkeeper's records in
PostgreSQL (the set-up for several hosts): the per-poll query reads the same
answer there as on SQLite."""

import json

import requests

from .live import LiveServer


def test_status_with_a_postgresql_control_database(pg, tmp_path):
    pg.drop_db("dbkeeper_control_web")
    pg.create_db("dbkeeper_control_web")
    server = LiveServer(tmp_path / "data", DBKEEPER_CONTROL_DATABASE_URL=pg.url("dbkeeper_control_web"))
    try:
        server.start_web()
        made = server.python(
            "import json\nfrom django.utils import timezone\n"
            "from dbkeeper.operations.models import Operation\n"
            "from dbkeeper.access import operation_tokens as tokens\n"
            "op = Operation.objects.create(user_id='7', username='alice', status='succeeded', stage='done',\n"
            "    percent=100, finished_at=timezone.now(), started_at=timezone.now(),\n"
            "    result={'prerestore': 'shop__prerestore_1', 'tables': 3, 'format_label': 'SQLite database'})\n"
            "op.add_event('The restore finished.')\n"
            "print(json.dumps({'id': op.id, 'token': tokens.issue(op)}))"
        )
        op = json.loads(made.strip().splitlines()[-1])
        answer = requests.get(server.url(f"/restore-progress/{op['id']}/status/"),
                              headers={"X-Temp-Token": op["token"], "Accept-Language": "ar"}, timeout=10)
        assert answer.status_code == 200, answer.text
        data = answer.json()
        assert data["finished"] is True and data["status"] == "succeeded" and data["percent"] == 100
        assert data["result"]["prerestore"] == "shop__prerestore_1" and data["result"]["tables"] == 3
        assert data["result"]["format_label"] == "قاعدة بيانات SQLite"
        assert data["started_at"].endswith("+00:00") and data["updated_at"]
        assert [e["message"] for e in data["events"]] == ["اكتملت الاستعادة."]
        wrong = requests.get(server.url(f"/restore-progress/{op['id']}/status/"),
                             headers={"X-Temp-Token": "nope"}, timeout=10)
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "token_missing"
    finally:
        server.stop_all()
        pg.drop_db("dbkeeper_control_web")


def test_polls_keep_their_connections_to_a_postgresql_control_database(pg, tmp_path):
    """A connection per poll cost the web server three times the poll itself
    (and PostgreSQL a process start each time): each thread keeps its own."""
    pg.drop_db("dbkeeper_control_kept")
    pg.create_db("dbkeeper_control_kept")
    server = LiveServer(tmp_path / "data", DBKEEPER_CONTROL_DATABASE_URL=pg.url("dbkeeper_control_kept"))
    try:
        server.start_web(processes=1, threads=2)
        made = server.python(
            "import json\nfrom dbkeeper.operations.models import Operation\n"
            "from dbkeeper.access import operation_tokens as tokens\n"
            "op = Operation.objects.create(user_id='7', username='alice', status='running', stage='restoring')\n"
            "print(json.dumps({'id': op.id, 'token': tokens.issue(op)}))"
        )
        op = json.loads(made.strip().splitlines()[-1])
        seen = set()
        with requests.Session() as browser, pg.connect() as watcher:
            for _ in range(40):
                answer = browser.get(server.url(f"/restore-progress/{op['id']}/status/"),
                                     headers={"X-Temp-Token": op["token"]}, timeout=10)
                assert answer.status_code == 200, answer.text
                seen |= {row[0] for row in watcher.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = 'dbkeeper_control_kept'")}
        assert 1 <= len(seen) <= 2, seen  # at most one per thread, whatever the number of polls
    finally:
        server.stop_all()
        pg.drop_db("dbkeeper_control_kept")
