"""Encryption at rest (age, through pyrage): a round trip through storage,
the stock age tool reading what dbkeeper wrote (and the other way round), a
wrong or missing identity and a damaged ciphertext each a sentence, keygen,
and restores of an encrypted stored backup: with the identity they succeed,
without it or on a cut-short file they fail before the swap, the live
database unchanged."""

import hashlib
import os
import sqlite3
import stat
import subprocess
import sys

import pytest

from dbkeeper.backups import store
from dbkeeper.backups.encryption import EncryptionError, decrypt_to, encrypting, generate_identity
from dbkeeper.backups.storage import get_storage
from dbkeeper.operations import runner, service

from .builders import make_sqlite
from .live import ROOT

MiB = 1024 * 1024


@pytest.fixture
def local(settings, tmp_path):
    settings.DBKEEPER = {**settings.DBKEEPER, "DATA_DIR": str(tmp_path / "data")}
    return get_storage("local")


@pytest.fixture
def key(tmp_path):
    path = tmp_path / "keys" / "key.txt"
    path.parent.mkdir()
    return path, generate_identity(path)


def encrypt_into(storage, name, data, recipients):
    with storage.writer(name, "op-enc") as out:
        with encrypting(out, recipients) as sink:
            for i in range(0, len(data), 300_000):
                sink.write(data[i:i + 300_000])
        out.commit()
    return out


def test_round_trip_through_storage(local, key, tmp_path):
    path, public = key
    data = os.urandom(5 * MiB + 11)
    out = encrypt_into(local, "2026/11/a.dump.age", data, [public])
    stored = (local.root / "2026/11/a.dump.age").read_bytes()
    assert stored.startswith(b"age-encryption.org/v1\n") and data not in stored
    # Size and SHA-256 are those of the ciphertext, as the catalog records them.
    assert (out.size, out.sha256) == (len(stored), hashlib.sha256(stored).hexdigest())
    assert decrypt_to(local.open_stream("2026/11/a.dump.age"), tmp_path / "plain", path) == len(data)
    assert (tmp_path / "plain").read_bytes() == data


def test_the_stock_age_tool_decrypts_what_dbkeeper_encrypted(local, key, tmp_path):
    path, public = key
    data = os.urandom(2 * MiB + 5)
    encrypt_into(local, "b.dump.age", data, [public])
    result = subprocess.run(["age", "-d", "-i", str(path), str(local.root / "b.dump.age")], capture_output=True,
                            check=True)
    assert result.stdout == data
    # And dbkeeper reads what age encrypted to the same key.
    (tmp_path / "plain.bin").write_bytes(data)
    subprocess.run(["age", "-r", public, "-o", str(tmp_path / "by-age.age"), str(tmp_path / "plain.bin")], check=True)
    with open(tmp_path / "by-age.age", "rb") as fh:
        decrypt_to(fh, tmp_path / "back.bin", path)
    assert (tmp_path / "back.bin").read_bytes() == data


def test_several_recipients_each_decrypt(local, tmp_path):
    first, second = tmp_path / "one.txt", tmp_path / "two.txt"
    keys = [generate_identity(first), generate_identity(second)]
    encrypt_into(local, "c.age", b"shared secret" * 1000, keys)
    for identity in (first, second):
        decrypt_to(local.open_stream("c.age"), tmp_path / "p", identity)
        assert (tmp_path / "p").read_bytes() == b"shared secret" * 1000


def test_a_wrong_identity_is_a_sentence(local, key, tmp_path):
    encrypt_into(local, "d.age", b"x" * 100_000, [key[1]])
    other = tmp_path / "other.txt"
    generate_identity(other)
    with pytest.raises(EncryptionError) as caught:
        decrypt_to(local.open_stream("d.age"), tmp_path / "p", other)
    assert caught.value.code == "wrong_identity"
    assert caught.value.message == f"The age identity in {other} cannot decrypt this backup: it was encrypted to other keys."


def test_a_truncated_or_altered_ciphertext_is_a_sentence(local, key, tmp_path):
    path, public = key
    encrypt_into(local, "e.age", os.urandom(3 * MiB), [public])
    ciphertext = (local.root / "e.age").read_bytes()
    flipped = bytearray(ciphertext)
    flipped[len(flipped) // 2] ^= 0x01
    for damaged in (ciphertext[: len(ciphertext) // 2], ciphertext[:-1], bytes(flipped), ciphertext[:40]):
        with pytest.raises(EncryptionError) as caught:
            decrypt_to(iter([damaged]), tmp_path / "p", path)
        assert caught.value.code == "decryption_failed"
        assert caught.value.message.startswith("The encrypted backup is damaged, truncated or was altered")


def test_identity_problems_are_sentences(settings, local, key, tmp_path):
    with pytest.raises(EncryptionError, match="does not exist"):
        decrypt_to(iter([b""]), tmp_path / "p", tmp_path / "none.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("# a comment\nAGE-SECRET-KEY-1NOTAKEY\n")
    with pytest.raises(EncryptionError) as caught:
        decrypt_to(iter([b""]), tmp_path / "p", bad)
    assert caught.value.message == f"The age identity file {bad} holds a line that is not an age identity."
    assert "NOTAKEY" not in caught.value.message  # a (mistyped) private key is never quoted
    with pytest.raises(EncryptionError, match="is not an age public key"):
        encrypting(iter([]), ["ssh-rsa AAAA"])
    with pytest.raises(EncryptionError, match="at least one age public key"):
        encrypting(iter([]), [])


def test_an_abandoned_encryption_leaves_nothing(local, key):
    with pytest.raises(RuntimeError):
        with local.writer("f.age", "op-f") as out:
            with encrypting(out, [key[1]]) as sink:
                sink.write(os.urandom(MiB))
                raise RuntimeError("pg_dump died")
    assert list(local.list_names()) == [] and list((local.root / ".partial").iterdir()) == []


def test_keygen_writes_a_private_file_and_says_a_lost_key_loses_the_backups(tmp_path):
    output = tmp_path / "dbkeeper-key.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "dbkeeper", "keygen", "--output", str(output)], env=env,
                            capture_output=True, text=True, check=True)
    public = result.stdout.strip().removeprefix("Public key: ")
    assert public.startswith("age1") and public in output.read_text()
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert "If it is lost, every backup encrypted to its public key is lost too" in result.stderr
    assert "password manager" in result.stderr
    # age itself accepts the identity file.
    (tmp_path / "x").write_bytes(b"hello")
    subprocess.run(["age", "-r", public, "-o", str(tmp_path / "x.age"), str(tmp_path / "x")], check=True)
    assert subprocess.run(["age", "-d", "-i", str(output), str(tmp_path / "x.age")], capture_output=True,
                          check=True).stdout == b"hello"
    # Never over an existing key.
    again = subprocess.run([sys.executable, "-m", "dbkeeper", "keygen", "--output", str(output)], env=env,
                           capture_output=True, text=True)
    assert again.returncode == 1 and "never overwrites a key" in again.stderr
    assert public in output.read_text()


# -- restoring an encrypted stored backup ------------------------------------------------

def rows(path):
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM notes").fetchone()[0]


@pytest.fixture
def encrypted_backup(local, key, tmp_path):
    backup = store.add_file(make_sqlite(tmp_path / "backup.sqlite3", rows=70, value="new"), "notes.sqlite3",
                            move=False, recipients=[key[1]])
    assert backup.encrypted and backup.storage_name.endswith(".age")
    stored = local.root / backup.storage_name
    assert stored.read_bytes().startswith(b"age-encryption.org/v1")
    assert backup.sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    return backup


@pytest.fixture
def live_db(tmp_path):
    return make_sqlite(tmp_path / "live.sqlite3", rows=5, value="old")


def restore(backup, live_db):
    op = service.create_restore("", f"sqlite:///{live_db}", backup=backup)
    runner.run(op.id)
    op.refresh_from_db()
    return op


@pytest.mark.django_db(transaction=True)
def test_an_encrypted_backup_restores_with_the_identity(settings, encrypted_backup, key, live_db):
    settings.DBKEEPER = {**settings.DBKEEPER, "AGE_IDENTITY_FILE": str(key[0])}
    op = restore(encrypted_backup, live_db)
    assert op.status == "succeeded", op.error_message
    assert rows(live_db) == 70
    assert list((get_storage().root.parent / "tmp").glob("decrypted-*")) == []  # scratch removed


@pytest.mark.django_db(transaction=True)
def test_without_an_identity_the_restore_fails_clearly_and_changes_nothing(encrypted_backup, live_db):
    op = restore(encrypted_backup, live_db)
    assert op.status == "failed"
    assert "This backup is encrypted, but no age identity is configured on this worker" in op.error_message
    assert rows(live_db) == 5


@pytest.mark.django_db(transaction=True)
def test_a_cut_short_ciphertext_fails_before_the_swap(settings, local, encrypted_backup, key, live_db):
    settings.DBKEEPER = {**settings.DBKEEPER, "AGE_IDENTITY_FILE": str(key[0])}
    stored = local.root / encrypted_backup.storage_name
    stored.write_bytes(stored.read_bytes()[:-200])
    op = restore(encrypted_backup, live_db)
    assert op.status == "failed"
    assert "The encrypted backup is damaged, truncated or was altered" in op.error_message
    assert rows(live_db) == 5


def test_an_upload_is_stored_encrypted_and_the_worker_restores_it(tmp_path):
    """The real server with recipients and an identity configured: dbkeeper
    upload checks what arrived against its file (not the ciphertext), the
    stored file is age (the stock tool reads it), and the worker restores it."""
    import json

    from .conftest import UPLOADER, UPLOADER_PASSWORD
    from .live import start_live_server, wait_for

    identity = tmp_path / "key.txt"
    public = generate_identity(identity)
    server = start_live_server(tmp_path / "data", UPLOADER, UPLOADER_PASSWORD, token_name="tests", everything=True,
                               DBKEEPER_AGE_RECIPIENTS=public, DBKEEPER_AGE_IDENTITY_FILE=str(identity))
    try:
        source = make_sqlite(tmp_path / "notes.sqlite3", rows=90, value="enc")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DBKEEPER_TOKEN": server.token,
               "XDG_CACHE_HOME": str(tmp_path / "cache")}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env.pop("DBKEEPER_DATA_DIR", None)
        done = subprocess.run([sys.executable, "-m", "dbkeeper", "upload", str(source), "--server", server.url("/")],
                              env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        backup_id = done.stdout.strip()
        row = json.loads(server.python(
            "import json\nfrom dbkeeper.backups.models import Backup\n"
            f"print(json.dumps(Backup.objects.get(pk={backup_id!r}).as_dict() | "
            f"{{'storage_name': Backup.objects.get(pk={backup_id!r}).storage_name}}))").strip().splitlines()[-1])
        stored = server.data_dir / "backups" / row["storage_name"]
        assert row["encrypted"] and row["recipients"] == [public]
        assert row["sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()
        assert row["plaintext_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
        assert subprocess.run(["age", "-d", "-i", str(identity), str(stored)], capture_output=True,
                              check=True).stdout == source.read_bytes()

        live_db = make_sqlite(tmp_path / "live.sqlite3", rows=3, value="old")
        target = f"sqlite:///{live_db}"
        op_id = server.python(
            "from dbkeeper import targets\nfrom dbkeeper.operations import service\n"
            f"confirm = targets.resolve({target!r}).name\n"
            f"print(service.start_restore(backup_id={backup_id!r}, target={target!r}, confirm=confirm).operation.id)"
        ).strip().splitlines()[-1]

        def ended():
            out = server.python("from dbkeeper.operations.models import Operation\n"
                                f"op = Operation.objects.get(pk={op_id!r})\nprint(op.status, op.error_message)")
            status = out.strip().splitlines()[-1]
            return status if status.split()[0] in ("succeeded", "failed") else None

        assert wait_for(ended, 60, "the restore") == "succeeded"
        assert rows(live_db) == 90
    finally:
        server.stop_all()
