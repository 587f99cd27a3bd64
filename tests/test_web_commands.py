"""``dbkeeper target add | list | remove`` against a real data folder."""

import pytest

from .live import LiveServer
from .pgserver import PASSWORD


@pytest.fixture
def server(tmp_path):
    return LiveServer(tmp_path / "data")


def test_add_list_remove_targets_without_a_password_on_the_command_line(server, pg, tmp_path):
    url_without_password = f"postgresql://postgres@127.0.0.1:{pg.port}/shop"
    added = server.cli("target", "add", "shop", url_without_password, "--password-stdin", input=PASSWORD + "\n")
    assert "added target shop" in added.stdout and PASSWORD not in added.stdout
    server.cli("target", "add", "notes", f"sqlite:///{tmp_path}/notes.db")
    listed = server.cli("target", "list").stdout
    assert "shop" in listed and "notes" in listed and PASSWORD not in listed
    # The password was kept (the target resolves with it), never shown.
    kept = server.python(
        "from dbkeeper.targets import resolve\n"
        "t = resolve('shop')\nprint(t.url.password == %r, t.display())" % PASSWORD
    )
    assert kept.startswith("True ") and PASSWORD not in kept
    assert server.cli("target", "remove", "notes").stdout.strip() == "removed target notes"
    assert "notes" not in server.cli("target", "list").stdout


@pytest.mark.parametrize("args, sentence", [
    (["add", "bad name", "sqlite:////tmp/x.db"], "A target name is 1 to 100 letters"),
    (["add", "x", "not-a-url"], "Give the target as a database URL"),
    (["add", "x", "mysql://u@h/db"], "unsupported database URL scheme"),
    (["add", "x", "sqlite:////tmp/x.db", "--password-stdin"], "--password-stdin is for PostgreSQL targets"),
    (["remove", "nothing"], "There is no target named nothing"),
])
def test_bad_input_is_refused_with_a_sentence_and_changes_nothing(server, args, sentence):
    result = server.cli("target", *args, check=False, input="pw\n")
    assert result.returncode == 1 and sentence in result.stderr
    assert "No targets yet" in server.cli("target", "list").stdout


def test_a_name_can_be_added_once(server, tmp_path):
    server.cli("target", "add", "notes", f"sqlite:///{tmp_path}/a.db")
    again = server.cli("target", "add", "notes", f"sqlite:///{tmp_path}/b.db", check=False)
    assert again.returncode == 1 and "There is already a target named notes" in again.stderr
