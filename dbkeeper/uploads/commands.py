"""``dbkeeper upload FILE --server URL --token TOKEN``: send a backup to a
dbkeeper server with the resumable upload protocol. Run the same command
again after an interruption and it carries on where it stopped."""

import os
import re
import sys

SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def chunk_size(text):
    match = re.fullmatch(r"\s*(\d+)\s*([kmg]?)i?b?\s*", text.lower())
    if not match or int(match.group(1)) < 1:
        raise ValueError(text)
    return int(match.group(1)) * SIZE_UNITS[match.group(2)]


chunk_size.__name__ = "chunk size (e.g. 8M)"


def register(sub):
    p = sub.add_parser("upload", help="upload a backup file to a dbkeeper server (resumable)")
    p.add_argument("file")
    p.add_argument("--server", required=True, help="dbkeeper's address, e.g. https://backups.example.com/dbkeeper/")
    p.add_argument("--token", default=os.environ.get("DBKEEPER_TOKEN"),
                   help="personal API token ('dbkeeper token create'); default: $DBKEEPER_TOKEN, "
                        "which keeps it out of the process list")
    p.add_argument("--chunk-size", type=chunk_size, default="8M", help="bytes per request (default 8M)")
    p.add_argument("--checksum", choices=["sha256", "sha1", "md5", "none"], default="none",
                   help="also send a checksum with each chunk for the server to verify (default none: the "
                        "stored backup's SHA-256 is always compared with the local file's at the end)")
    p.add_argument("--retries", type=int, default=10, help="tries after a dropped connection before giving up")
    p.add_argument("--state-file", default=None,
                   help="where unfinished uploads are remembered (default ~/.cache/dbkeeper/uploads.json)")
    p.set_defaults(func=cmd_upload, needs_django=False)


def cmd_upload(args):
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from ..messages import N_
    from .client import Progress as Listener
    from .client import TusUpload, UploadFailed

    console = Console(stderr=True)
    if not args.token:
        raise UploadFailed(N_("Give a personal API token with --token or $DBKEEPER_TOKEN (create one with 'dbkeeper token create USERNAME')."))
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task(os.path.basename(args.file), total=None)

        def on_offset(offset, total):
            bar.update(task, completed=offset, total=total)

        def on_resume(offset):
            console.print(f"Resuming the earlier upload at byte {offset:,}.")

        def on_retry(message, delay):
            console.print(f"[yellow]{message}[/yellow] Trying again in {delay} s.")

        upload = TusUpload(args.file, args.server, args.token, chunk_size=args.chunk_size, checksum=args.checksum,
                           retries=args.retries, state_file=args.state_file,
                           progress=Listener(on_offset=on_offset, on_resume=on_resume, on_retry=on_retry))
        result = upload.run()
    if result["status"] != "stored":
        error = result.get("error") or {}
        console.print(f"[red]Not stored:[/red] {error.get('message') or result['status']}")
        return 1
    backup = result["backup"]
    console.print(f"[green]Stored[/green] as backup {backup['id']}: {backup['format_label'] or backup['format']}, "
                  f"{backup['size']:,} bytes, SHA-256 {backup['sha256']}")
    sys.stdout.write(backup["id"] + "\n")
    return 0
