"""Test modules share through conftest.py and helper modules, never through
each other: importing a test module runs its module-level set-up twice and
ties one file's tests to another's internals."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def imported_modules(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if base:
                yield base
            else:  # from . import test_x
                yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def imports_of_test_modules(source):
    return [name for name in imported_modules(ast.parse(source))
            if any(part.startswith("test_") for part in name.split("."))]


def test_no_test_module_imports_another_test_module():
    offenders = {path.name: found for path in sorted(TESTS.glob("test_*.py"))
                 if (found := imports_of_test_modules(path.read_text()))}
    assert offenders == {}


def test_the_check_sees_every_way_of_importing_a_test_module():
    source = ("from .test_a import x\nfrom . import test_b\nimport tests.test_c\nfrom tests.test_d import y\n"
              "from .pipeline import restore\nimport pytest\n")
    assert imports_of_test_modules(source) == ["test_a", "test_b", "tests.test_c", "tests.test_d"]
