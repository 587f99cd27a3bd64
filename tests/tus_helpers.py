"""Shared by the upload tests: real backup files, checks on the server's
data folder, and a TCP proxy that can be slowed down."""

import hashlib
import json
import os
import sqlite3
import subprocess
import sys



def make_sqlite_backup(path, rows=2000):
    """A real SQLite database (the cheapest backup the engines recognise),
    about 100 bytes a row."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.executemany("INSERT INTO notes (body) VALUES (?)",
                     ((hashlib.sha256(str(i).encode()).hexdigest() + f" note {i}",) for i in range(rows)))
    conn.commit()
    conn.close()
    return path


def make_big_sqlite_backup(path, megabytes):
    """A SQLite database of about ``megabytes`` MB of random blobs."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)")
    conn.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                 "INSERT INTO blobs (data) SELECT randomblob(1024 * 1024) FROM n", (megabytes,))
    conn.commit()
    conn.close()
    return path


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def stored_files(data_dir):
    """Every file under the backup storage and the uploads folder."""
    return {str(p.relative_to(data_dir)) for sub in ("backups", "uploads") for p in (data_dir / sub).rglob("*")
            if p.is_file()} if data_dir.exists() else set()


def upload_row(server, url):
    """The upload behind ``url`` on a LiveServer, with its stored backup if any."""
    upload_id = url.rstrip("/").rsplit("/", 1)[1]
    out = server.python(
        "import json\nfrom dbkeeper.uploads.models import Upload\nfrom dbkeeper.backups.models import Backup\n"
        f"u = Upload.objects.get(pk={upload_id!r})\n"
        "b = Backup.objects.filter(pk=u.backup_id).first()\n"
        "print(json.dumps({'status': u.status, 'offset': u.offset, 'length': u.length, 'error': u.error_message,"
        " 'backup_id': u.backup_id, 'storage_name': b and b.storage_name, 'sha256': b and b.sha256,"
        " 'size': b and b.size, 'format': b and b.format}))"
    )
    return json.loads(out.strip().splitlines()[-1])


def upload_count(server):
    out = server.python("from dbkeeper.uploads.models import Upload\nprint(Upload.objects.count())")
    return int(out.strip().splitlines()[-1])


def upload_cmd(web_server, path, *args, token=None, port=None, cache=None):
    """argv and env of ``dbkeeper upload``, the token in the environment."""
    env = {**os.environ, "PYTHONPATH": web_server.env["PYTHONPATH"], "DBKEEPER_TOKEN": token or web_server.token,
           "XDG_CACHE_HOME": str(cache), "COLUMNS": "120"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DBKEEPER_DATA_DIR", None)
    argv = [sys.executable, "-m", "dbkeeper", "upload", str(path), "--server", web_server.url("/", port=port), *args]
    return argv, env


def run_upload(web_server, path, *args, cwd, **kwargs):
    argv, env = upload_cmd(web_server, path, *args, **kwargs)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=cwd)
