"""Web and worker on different hosts that share only the control database
(PostgreSQL), the queue (Redis) and S3 (SeaweedFS): a backup uploaded to the
web side with tus is stored in S3, and the worker restores it from there."""

import json
import os
import subprocess
import sys

from .builders import dump_custom, make_pg_source
from .conftest import UPLOADER, UPLOADER_PASSWORD
from .dbsnapshot import pg_snapshot
from .live import LiveServer, start_live_server, wait_for
from .pgserver import conninfo
from .tus_helpers import sha256_file


def operation(server, op_id):
    out = server.python(
        "import json\nfrom dbkeeper.operations.models import Operation\n"
        f"op = Operation.objects.get(pk={op_id!r})\n"
        "print(json.dumps({'status': op.status, 'error_message': op.error_message}))"
    )
    return json.loads(out.strip().splitlines()[-1])


def upload(server, path, cwd):
    """``dbkeeper upload`` (tus) of ``path`` to the web host; returns the backup id."""
    env = {**os.environ, "PYTHONPATH": server.env["PYTHONPATH"], "DBKEEPER_TOKEN": server.token,
           "XDG_CACHE_HOME": str(cwd / "cache")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DBKEEPER_DATA_DIR", None)
    done = subprocess.run([sys.executable, "-m", "dbkeeper", "upload", str(path), "--server", server.url("/"),
                           "--chunk-size", "256K"], env=env, capture_output=True, text=True, timeout=120, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_an_upload_stored_in_s3_is_restored_by_a_worker_on_another_host(pg, pg_dbname, tmp_path, redis_url,
                                                                        s3_server, s3_bucket):
    make_pg_source(pg, "src_s3", rows=400, value="via-s3")
    dump = dump_custom(pg, "src_s3", tmp_path / "shop.dump")
    pg.drop_db("dbkeeper_control_s3")
    pg.create_db("dbkeeper_control_s3")
    env = {"DBKEEPER_REDIS_URL": redis_url, "DBKEEPER_CONTROL_DATABASE_URL": pg.url("dbkeeper_control_s3"),
           **s3_server.env(s3_bucket)}
    web_side = start_live_server(tmp_path / "web-host", UPLOADER, UPLOADER_PASSWORD, token_name="tests", **env)
    worker_side = LiveServer(tmp_path / "worker-host", **env)
    try:
        worker_side.start_worker()
        backup_id = upload(web_side, dump, tmp_path)
        row = json.loads(web_side.python(
            "import json\nfrom dbkeeper.backups.models import Backup\n"
            f"b = Backup.objects.get(pk={backup_id!r})\n"
            "print(json.dumps({'storage': b.storage, 'storage_name': b.storage_name, 'sha256': b.sha256}))"
        ).strip().splitlines()[-1])
        assert row["storage"] == "s3" and row["sha256"] == sha256_file(dump)
        # In the bucket, and nowhere on the web host's disk.
        client = s3_server.client()
        assert [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket)["Contents"]] == [row["storage_name"]]
        assert client.get_object(Bucket=s3_bucket, Key=row["storage_name"])["Body"].read() == dump.read_bytes()
        assert not list((tmp_path / "web-host" / "backups").rglob("*.dump"))

        op_id = web_side.python(
            "from dbkeeper import targets\nfrom dbkeeper.operations import service\n"
            f"confirm = targets.resolve({pg.url(pg_dbname)!r}).name\n"
            f"op = service.start_restore(backup_id={backup_id!r}, target={pg.url(pg_dbname)!r}, confirm=confirm).operation\n"
            "print(op.id)").strip().splitlines()[-1]
        state = wait_for(lambda: (s := operation(web_side, op_id))["status"] in ("succeeded", "failed") and s, 90,
                         "the restore")
        assert state["status"] == "succeeded", state
        assert pg_snapshot(conninfo(pg, pg_dbname)) == pg_snapshot(conninfo(pg, "src_s3"))
        # The worker's temporary copy is gone.
        assert not list((tmp_path / "worker-host" / "tmp").glob("stored-*"))
    finally:
        worker_side.stop_all()
        web_side.stop_all()
        pg.drop_db("src_s3")
        pg.drop_db("dbkeeper_control_s3")
