"""What the listing commands of the command line share: the data folder
check before reading, tables that never cut what a person must copy (ids,
names), and --json.

A table keeps its id and name columns whole and lets the others wrap; when
the terminal is too narrow for that, each record is printed as a block of
"heading  value" lines instead, so nothing is ever cut."""

import json
import sys

# Below this width a wrapped column is unreadable: print blocks instead.
MIN_WRAPPED_WIDTH = 10


def _say(text, as_json):
    # With --json, standard output holds only the JSON.
    (sys.stderr if as_json else sys.stdout).write(text + "\n")


def open_records(as_json=False) -> bool:
    """Whether there are records to read (migrated if so). If the data folder
    does not exist yet, say so (an empty list for --json) and create nothing."""
    from . import conf

    missing = conf.missing_data_dir()
    if missing is not None:
        if as_json:
            print_json([])
        _say(f"No data folder at {missing} yet, so nothing to list: 'dbkeeper serve' creates it "
             "(or set DBKEEPER_DATA_DIR to the folder your server uses).", as_json)
        return False
    from .server import migrate

    migrate()
    return True


def say_empty(what, hint="", as_json=False):
    """An empty list names the data folder in use: the first thing to check."""
    from . import conf

    _say(f"No {what} yet (data folder: {conf.data_dir_path()}){hint}.", as_json)


def print_json(rows):
    sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")


def print_table(headings, rows, keep, console=None):
    """``rows`` of strings under ``headings``; the columns named in ``keep``
    are never cut or wrapped."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    widths = {h: max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headings)}
    # Each column costs its padding and a border (3), plus the outer border.
    needed = 1 + sum(3 + (widths[h] if h in keep else min(widths[h], MIN_WRAPPED_WIDTH)) for h in headings)
    if needed > console.width:
        print_blocks(headings, rows, keep, console)
        return
    table = Table()
    for heading in headings:
        if heading in keep:
            table.add_column(heading, no_wrap=True, min_width=widths[heading])
        else:
            table.add_column(heading, overflow="fold", min_width=min(widths[heading], MIN_WRAPPED_WIDTH))
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # values are text, never rich markup
    console.print(table)


def print_blocks(headings, rows, keep, console):
    """One record per block, "heading  value" a line: the kept values whole on
    their line, the others wrapped under themselves."""
    import textwrap

    label = max(len(h) for h in headings)
    room = max(MIN_WRAPPED_WIDTH, console.width - label - 2)
    for n, row in enumerate(rows):
        if n:
            console.print()
        for heading, value in zip(headings, row):
            lines = [value] if heading in keep else (textwrap.wrap(value, room, break_on_hyphens=False) or [""])
            for i, line in enumerate(lines):
                console.print(f"{(heading if i == 0 else '').ljust(label)}  {line}".rstrip(), soft_wrap=True,
                              markup=False, highlight=False)


def counted(count: int, singular: str, plural: str = "") -> str:
    """``count`` with its noun in the right number ("1 table", "3 tables")."""
    return f"{count:,} {singular if count == 1 else (plural or singular + 's')}"
