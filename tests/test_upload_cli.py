"""``dbkeeper upload`` and ``dbkeeper token`` against the real server: an
upload with its progress bar, one killed half-way and run again, and the
mistakes a person makes (wrong token, missing file, not a backup)."""

import json
import re
import signal
import subprocess

import requests

from .live import wait_for
from .pgserver import free_port
from .tcpproxy import TcpProxy
from .tus_helpers import (
    make_big_sqlite_backup, make_sqlite_backup, run_upload, sha256_file, upload_cmd, upload_count, upload_row,
)


def test_upload_shows_progress_and_prints_the_stored_backup(web_server, tmp_path):
    source = make_sqlite_backup(tmp_path / "notes.sqlite3", rows=3000)
    done = run_upload(web_server, source, "--chunk-size", "64K", cwd=tmp_path, cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    backup_id = done.stdout.strip()
    assert backup_id.startswith("bk_")
    assert "notes.sqlite3" in done.stderr and "Stored" in done.stderr and sha256_file(source) in done.stderr
    # The progress bar's last frame: all bytes sent, e.g. "262.1/262.1 kB".
    assert re.search(r"notes\.sqlite3 \S+ (\d+\.\d)/\1 kB", done.stderr), done.stderr
    # A client command touches no local data folder, and forgets a finished upload.
    assert not (tmp_path / "dbkeeper-data").exists()
    assert json.loads((tmp_path / "cache" / "dbkeeper" / "uploads.json").read_text()) == {}
    row = web_server.python("from dbkeeper.backups.models import Backup\n"
                        f"b = Backup.objects.get(pk={backup_id!r})\nprint(b.sha256, b.size, b.username, b.name)")
    assert row.split() == [sha256_file(source), str(source.stat().st_size), "uploader", "notes.sqlite3"]


def test_upload_killed_half_way_resumes_when_run_again(web_server, tmp_path):
    source = make_big_sqlite_backup(tmp_path / "big.sqlite3", megabytes=6)
    size = source.stat().st_size
    cache = tmp_path / "cache"
    state = cache / "dbkeeper" / "uploads.json"
    before = upload_count(web_server)
    proxy = TcpProxy(web_server.port, rate=1_500_000).start()
    try:
        argv, env = upload_cmd(web_server, source, "--chunk-size", "512K", port=proxy.port, cache=cache)
        first = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
        url = wait_for(lambda: state.exists() and next(iter(json.loads(state.read_text()).values()), None), 30,
                       "the upload to be created")
        headers = {"Authorization": f"Bearer {web_server.token}", "Tus-Resumable": "1.0.0"}

        def offset():
            return int(requests.head(url.replace(f":{proxy.port}/", f":{web_server.port}/"), headers=headers,
                                     timeout=5).headers["Upload-Offset"])

        wait_for(lambda: offset() >= 2 * 512 * 1024, 30, "a few chunks to arrive")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = wait_for(lambda: (o := offset()) and o, 10, "the server to record the offset")
        assert 0 < killed_at < size
        assert upload_row(web_server, url)["status"] == "receiving"

        proxy.rate = None
        second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    finally:
        proxy.cut()
    assert second.returncode == 0, second.stderr
    resumed_at = int(second.stderr.split("Resuming the earlier upload at byte ")[1].split(".")[0].replace(",", ""))
    assert killed_at <= resumed_at < size
    row = upload_row(web_server, url)
    assert row["status"] == "stored" and row["size"] == size
    assert sha256_file(web_server.data_dir / "backups" / row["storage_name"]) == sha256_file(source)
    assert upload_count(web_server) == before + 1  # the same upload, not a second one
    assert json.loads(state.read_text()) == {}


def test_wrong_token_missing_file_and_not_a_backup_are_explained(web_server, tmp_path):
    source = make_sqlite_backup(tmp_path / "ok.sqlite3", rows=10)
    bad = run_upload(web_server, source, token="dbk_wrong", cwd=tmp_path, cache=tmp_path / "c")
    assert bad.returncode == 1 and "API token is not valid" in bad.stderr

    missing = run_upload(web_server, tmp_path / "nope.dump", cwd=tmp_path, cache=tmp_path / "c")
    assert missing.returncode == 1 and "There is no file" in missing.stderr

    text = tmp_path / "notes.txt"
    text.write_text("just some words\n" * 100)
    rejected = run_upload(web_server, text, cwd=tmp_path, cache=tmp_path / "c")
    assert rejected.returncode == 1
    assert "Not stored" in rejected.stderr and "not a backup dbkeeper can restore" in rejected.stderr

    empty = tmp_path / "empty.dump"
    empty.write_bytes(b"")
    refused = run_upload(web_server, empty, cwd=tmp_path, cache=tmp_path / "c")
    assert refused.returncode == 1 and "Not stored" in refused.stderr and "empty" in refused.stderr

    unreachable = run_upload(web_server, source, "--retries", "1", port=free_port(), cwd=tmp_path, cache=tmp_path / "c")
    assert unreachable.returncode == 1 and "Nothing answers at" in unreachable.stderr


def test_token_create_list_revoke(web_server, tmp_path):
    created = web_server.cli("token", "create", "uploader", "--name", "nightly")
    token = created.stdout.strip()
    assert token.startswith("dbk_") and len(token) > 40 and "shown only this once" in created.stderr
    listing = web_server.cli("token", "list").stdout
    prefix = token[:12]
    assert prefix in listing and "nightly" in listing and token not in listing
    stored = web_server.python("from dbkeeper.access.api_tokens import ApiToken\n"
                           "print([t.token_hash for t in ApiToken.objects.all()])")
    assert token not in stored
    source = make_sqlite_backup(tmp_path / "t.sqlite3", rows=10)
    assert run_upload(web_server, source, token=token, cwd=tmp_path, cache=tmp_path / "c").returncode == 0
    revoked = web_server.cli("token", "revoke", prefix)
    assert "revoked" in revoked.stdout
    assert prefix not in web_server.cli("token", "list").stdout and prefix in web_server.cli("token", "list", "--all").stdout
    refused = run_upload(web_server, source, token=token, cwd=tmp_path, cache=tmp_path / "c2")
    assert refused.returncode == 1 and "not valid" in refused.stderr
    unknown = web_server.cli("token", "create", "nobody", check=False)
    assert unknown.returncode == 1 and "no user named nobody" in unknown.stderr
    again = web_server.cli("token", "revoke", prefix, check=False)
    assert again.returncode == 1 and "No active API token matches" in again.stderr
