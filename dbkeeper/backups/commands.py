"""``dbkeeper backup --format fixtures --source alias:NAME OUT``."""

import sys


def register(sub):
    p = sub.add_parser("backup", help="write a backup of a database of this project to a file")
    p.add_argument("out", help="file to write (ending in .gz: gzipped)")
    p.add_argument("--format", choices=["fixtures"], default="fixtures",
                   help="fixtures: Django dumpdata JSON, which dbkeeper and loaddata can restore")
    p.add_argument("--source", default="alias:default", help="alias:NAME of the database (default alias:default)")
    p.add_argument("--exclude", action="append", default=[], metavar="APP_OR_MODEL",
                   help="leave out an app (shop) or a model (shop.order); may be repeated")
    p.add_argument("--natural-foreign", action="store_true", help="refer to related objects by natural key")
    p.add_argument("--natural-primary", action="store_true", help="leave out primary keys of models with natural keys")
    p.set_defaults(func=cmd_backup)


def cmd_backup(args):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..engines.fixtures_dump import write_fixture
    from ..errors import DbkeeperError
    from ..messages import Message, N_, Np_

    if not args.source.startswith("alias:"):
        raise DbkeeperError(N_("A fixture backup reads a database of this project: give its alias, e.g. %(example)s."),
                            params={"example": "--source alias:default"})
    alias = args.source[len("alias:"):]
    console = Console(stderr=True)
    with Progress(TextColumn("writing"), BarColumn(), MofNCompleteColumn(), TextColumn("objects"),
                  TimeRemainingColumn(), console=console, transient=not sys.stderr.isatty()) as bar:
        task = bar.add_task("backup", total=None)

        def show(done, total):
            bar.update(task, completed=done, total=total)

        count = write_fixture(alias, args.out, on_progress=show, exclude=[e.lower() for e in args.exclude],
                              natural_foreign=args.natural_foreign, natural_primary=args.natural_primary)
    wrote = Message(Np_("Wrote %(count)s object to %(path)s.", "Wrote %(count)s objects to %(path)s."),
                    {"count": count, "path": args.out})
    console.print(wrote.render())
    return 0
