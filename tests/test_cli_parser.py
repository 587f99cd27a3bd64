"""The command line's parser: a command loads only the part that adds it, so
the map of parts to commands must stay true, and a command line parses the
same whether the parser was built for it alone or for every command."""

import argparse
import importlib

import pytest

from dbkeeper import cli

from .live import run_dbkeeper as dbkeeper


@pytest.mark.parametrize("module", list(cli.COMMAND_MODULES))
def test_each_part_adds_exactly_the_commands_the_map_names(module):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    importlib.import_module(module).register(sub)
    assert set(sub.choices) == set(cli.COMMAND_MODULES[module])


def test_no_command_is_named_by_two_parts():
    names = [name for commands in cli.COMMAND_MODULES.values() for name in commands]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("argv, command", [
    (["backup", "x"], "backup"),
    (["-v", "restore", "f.dump"], "restore"),
    (["--as", "alice", "db", "list"], "db"),
    (["--as=alice", "-v", "status"], "status"),
    (["--verbose", "--as", "restore", "operations"], "operations"),  # a user named like a command
    (["--help"], None),
    (["-x", "backup"], None),
    ([], None),
])
def test_the_command_is_read_past_the_global_options(argv, command):
    assert cli.command_named(argv) == command


@pytest.mark.parametrize("argv", [
    ["backup", "postgresql://h/db", "--compress", "3", "--json"],
    ["--as", "alice", "-v", "restore", "f.dump", "--target", "t", "--yes"],
    ["verify", "bk_1", "--queue"],
    ["schedule", "list"],
    ["db", "list", "-v"],
])
def test_a_command_parses_alike_with_its_part_alone_or_all(argv):
    alone, every = cli.build_parser(argv), cli.build_parser()
    assert set(alone._subparsers._group_actions[0].choices) < set(every._subparsers._group_actions[0].choices)
    mine, theirs = vars(alone.parse_args(argv)), vars(every.parse_args(argv))
    assert mine.pop("func") is theirs.pop("func") and mine == theirs


def test_help_and_an_unknown_command_still_list_every_command(tmp_path):
    shown = dbkeeper(tmp_path, "--help")
    assert shown.returncode == 0
    for commands in cli.COMMAND_MODULES.values():
        for name in commands:
            assert name in shown.stdout
    wrong = dbkeeper(tmp_path, "bakup")
    assert wrong.returncode == 2 and "invalid choice: 'bakup'" in wrong.stderr and "backup" in wrong.stderr
