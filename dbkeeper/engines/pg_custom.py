"""PostgreSQL custom-format dumps (``pg_dump -Fc``), restored with pg_restore.

The archive is read by dbkeeper itself first (pgarchive): that lists the
tables, weighs each table's data for progress, and refuses a truncated or
corrupt file before anything runs. pg_restore then loads the scratch database;
its ``--verbose`` lines say which tables are done, and pg_stat_progress_copy
says how far the tables being copied are.
"""

import contextlib
import io
import logging
import os
import re
import subprocess
import tempfile
import threading
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from .. import conf
from ..errors import BackupRejected, RestoreFailed
from ..messages import Message, N_
from ..procs import Tool, pg_tool
from ..streams import GZIP_MAGIC, StreamSource
from ..targets.pgneeds import needs_of_archive, skipped_entries
from ..targets.pgroles import (
    RoleFacts, archive_entry_object, client_version, default_privilege_statements, role_switch_failure,
    role_switch_refused, server_version_num,
)
from .base import BackupInfo, Engine, StdinFeed
from .pgarchive import MAGIC, ArchiveError, read_archive

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
# A table's live fraction stops short of 1 until pg_restore says it is done.
MAX_LIVE_FRACTION = 0.99

# The newest archive version each pg_restore major version reads.
READABLE_BY_PG_RESTORE = {11: (1, 13), 12: (1, 14), 13: (1, 14), 14: (1, 14), 15: (1, 14), 16: (1, 15), 17: (1, 16)}


class PgCustomEngine(Engine):
    format = "pg_custom"
    label = N_("PostgreSQL custom-format dump")
    target_kinds = ("postgresql",)

    def sniff(self, head: bytes) -> bool:
        return head.startswith(MAGIC)

    def can_stream(self) -> bool:
        # Parallel jobs seek in the archive: they need a local file.
        return max(1, int(conf.get("PG_RESTORE_JOBS") or 1)) == 1

    def inspect(self, path) -> BackupInfo:
        # A stored backup read as a stream was recognised when it was stored: no extra pass for its first bytes.
        streamed = isinstance(path, StreamSource)
        with (contextlib.nullcontext(io.BytesIO(b"")) if streamed else open(path, "rb")) as fh:
            if fh.read(2) == GZIP_MAGIC:
                raise BackupRejected(N_(
                    "This custom-format dump was gzipped afterwards, which pg_restore cannot read "
                    "(the format is already compressed inside): gunzip it and try again."
                ))
        try:
            archive = read_archive(path)
        except ArchiveError as exc:
            raise BackupRejected(exc.sentence) from exc  # the sentence whole, to be translated
        header = archive.header
        compression = header.compression
        if header.compression_level not in (None, -1, 0):
            compression += f" (level {header.compression_level})"
        info = BackupInfo(
            format=self.format,
            label=self.label,
            size=archive.size,
            compressed=header.compression != "none",
            tables=archive.tables,
            server_version=header.server_version or None,
            details={
                "database": header.dbname,
                "dumped_at": header.created.isoformat(sep=" ") if header.created else "",
                "dumped_by": f"pg_dump {header.pg_dump_version}",
                "compression": compression,
                "archive_version": header.version_text,
                "objects": len(archive.entries),
                "data_size": archive.data_bytes,
                "stored_data_size": archive.stored_data_bytes,
                # "schema.table" -> bytes of its data once inflated, for the tables that have data.
                "table_data_sizes": dict(sorted(archive.table_data_bytes().items())),
                "roles": ", ".join(sorted(archive.owners() | archive.acl_roles())),
                # Extensions, event triggers and languages: what dbkeeper will do about them depends on the target.
                "needs": needs_of_archive(archive).as_dict(),
            },
            parsed=archive,  # kept for restore (weights, roles), not part of the description
        )
        return info

    def restore(self, path, info: BackupInfo, target, progress) -> None:
        archive = info.parsed
        if archive is None:
            archive = self.inspect(path).parsed
        tool_path = pg_tool("pg_restore")
        _check_readable(tool_path, archive)

        streamed = isinstance(path, StreamSource)
        # From a stream, pg_restore reads its standard input, which it cannot seek: one job.
        jobs = 1 if streamed else max(1, int(conf.get("PG_RESTORE_JOBS") or 1))
        tracker = DataTracker(archive, parallel=jobs > 1)
        progress.set_total(tracker.total, "bytes")

        # As the role the backup's content runs as (a throwaway one for a privileged target).
        least_privilege = getattr(target, "runas", None) is not None
        with target.connect() as conn:
            listing = None
            if least_privilege:
                options, listing = _least_privilege_options(archive, conn, progress, target)
            else:
                options = _ownership_options(archive, conn, progress)
            argv = [
                tool_path, "--verbose", "--exit-on-error", "--no-password", f"--jobs={jobs}",
                *options, "--dbname", make_conninfo(dbname=target.url.name),
                # An absolute path: a file name starting with "-" is not taken for an option.
                *([] if streamed else [os.path.abspath(path)]),
            ]
            env = {**target.content_url.libpq_env(), "PGAPPNAME": "dbkeeper pg_restore",
                   "PGOPTIONS": _session_options()}
            tool = Tool(argv, env=env, on_stderr_line=tracker.on_line, tail_lines=200,
                        stdin=subprocess.PIPE if streamed else subprocess.DEVNULL)
            feed = StdinFeed(path, tool.proc.stdin) if streamed else None
            try:
                copy_watch = CopyWatch(conn)
                while True:
                    try:
                        code = tool.wait(timeout=POLL_SECONDS)
                        break
                    except subprocess.TimeoutExpired:
                        pass
                    if feed is not None and feed.error is not None:
                        raise feed.error  # the stream failed: pg_restore must not finish on half of it
                    tracker.update_copies(copy_watch.read())
                    progress.advance(tracker.done_bytes())
                    progress.check_cancel()
                if feed is not None:
                    feed.join()
            except BaseException:
                tool.kill()
                if feed is not None:
                    feed.join()
                raise
            finally:
                if listing is not None:
                    listing.unlink(missing_ok=True)
        if feed is not None and feed.error is not None:
            # The stream broke (S3 went away, the ciphertext is damaged): that is
            # the reason, whatever pg_restore made of the end of its input.
            raise feed.error
        if code != 0:
            # Leave the percent where it stopped: it tells how far the restore got.
            progress.advance(tracker.done_bytes())
            progress.flush(force=True)
            failure = _failure_message(tool, code)
            if least_privilege and role_switch_refused(tool.stderr_tail):
                failure = role_switch_failure(failure)
            raise RestoreFailed(failure)
        progress.advance(tracker.total)
        progress.flush(force=True)  # "all data in" is worth showing even after a quick restore


def _session_options() -> str:
    # Nobody sees the scratch database before the swap, so its many small
    # commits need not each wait for the disk: the swap's own commit flushes
    # the log up to it, the restored data included.
    inherited = os.environ.get("PGOPTIONS", "")
    return f"{inherited} -c synchronous_commit=off".strip()


def _check_readable(tool_path, archive):
    """A clear sentence instead of pg_restore's "unsupported version" when
    the dump is newer than the installed client tools."""
    version = client_version(tool_path)
    if version is None:
        return
    major = version[0]
    readable = READABLE_BY_PG_RESTORE.get(major, (1, 12) if major < 11 else (99, 0))
    if archive.header.version[:2] > readable:
        raise RestoreFailed(
            N_("This dump was made by pg_dump %(dumped_by)s (archive version %(archive)s), which the installed "
               "pg_restore %(major)s cannot read: install newer PostgreSQL client tools on the worker."),
            code="tool_too_old",
            params={"dumped_by": archive.header.pg_dump_version or Message(N_("(unknown version)")),
                    "archive": archive.header.version_text, "major": major},
        )


def _ownership_options(archive, conn, progress) -> list:
    """pg_restore options so that roles the server lacks (or that the
    connecting user may not act as) do not fail the restore."""
    roles = RoleFacts.of_connection(conn)
    user, superuser, existing = roles.user, roles.superuser, roles.existing
    usable = {r for r in existing if roles.usable(r)}
    owners = archive.owners()
    grantees = archive.acl_roles()
    missing = sorted((owners | grantees) - existing)
    foreign_owners = sorted(owners & existing - usable)
    options, notes = [], []
    if (owners - existing) or foreign_owners:
        options.append("--no-owner")
        notes.append(Message(N_("the restored objects now belong to %(user)s, the user dbkeeper connects as"),
                             {"user": user}))
    # Granting as another role (SET SESSION AUTHORIZATION) needs a superuser.
    session_roles = archive.session_roles() - {user}
    if (grantees - existing) or (session_roles and not superuser):
        options.append("--no-acl")
        notes.append(Message(N_("the backup's grants (GRANT/REVOKE) were left out")))
    if notes:
        reasons = []
        if missing:
            reasons.append(Message(N_("roles this server does not have (%(roles)s)"), {"roles": _names(missing)}))
        if foreign_owners:
            reasons.append(Message(N_("roles %(user)s may not act as (%(roles)s)"),
                                   {"user": user, "roles": _names(foreign_owners)}))
        if session_roles and not superuser and not reasons:
            reasons.append(Message(N_("grants made as other roles, which needs a superuser (%(roles)s)"),
                                   {"roles": _names(sorted(session_roles))}))
        progress.event(_refers_to(reasons, notes), level="warning")
    return options


def _least_privilege_options(archive, conn, progress, target) -> tuple:
    """pg_restore options for a throwaway role that owns the scratch database:
    no ownership statements (dbkeeper hands the objects over afterwards, to
    the owners the archive names where that is safe), no default privileges
    of other roles, and no grants naming roles the server lacks."""
    roles = RoleFacts.of_connection(conn)
    options = ["--no-owner"]
    made = target.prepare_content(needs_of_archive(archive), progress)
    target.backup_owners = {
        key: entry.owner for entry in archive.entries
        if entry.owner and (key := archive_entry_object(entry.desc, entry.namespace, entry.tag))
    }
    # pg_dump 17 and later groups large objects in BLOB METADATA entries, one owner each.
    target.backup_owners.update({
        ("large object", "", oid): entry.owner for entry in archive.entries
        if entry.owner and entry.desc == "BLOB METADATA" for oid in _LO_CREATED.findall(entry.defn or "")
    })
    grantees = archive.acl_roles()
    missing = sorted(grantees - roles.existing)
    if missing or archive.session_roles():
        options.append("--no-acl")
        reason = (Message(N_("roles this server does not have (%(roles)s)"), {"roles": _names(missing)}) if missing
                  else Message(N_("grants made as other roles, which needs a superuser (%(roles)s)"),
                               {"roles": _names(sorted(archive.session_roles()))}))
        progress.event(_refers_to([reason], [Message(N_("the backup's grants (GRANT/REVOKE) were left out"))]),
                       level="warning")
        default_acls = []
    else:
        # ALTER DEFAULT PRIVILEGES FOR ROLE another needs that role's rights: left out.
        default_acls = [e for e in archive.entries if e.desc == "DEFAULT ACL"]
    # What dbkeeper created before (an extension, its schema) is not created again.
    skipped = {e.dump_id for e in default_acls} | skipped_entries(made, archive)
    if not skipped:
        return options, None
    fd, name = tempfile.mkstemp(prefix="dbkeeper-toc-", suffix=".list")
    os.close(fd)
    listing = Path(name)
    listing.write_text("".join(f"{e.dump_id};\n" for e in archive.entries if e.dump_id not in skipped))
    options.append(f"--use-list={listing}")
    # dbkeeper sets them itself afterwards, as the role they are for (pghandover).
    target.default_privileges = [
        (acting[0], statement_text) for entry in default_acls
        for statement_text, acting in default_privilege_statements(entry.defn)
    ]
    return options, listing


_LO_CREATED = re.compile(r"lo_create\('(\d+)'\)")


def _refers_to(reasons, notes) -> Message:
    return Message(N_("The backup refers to %(reasons)s: %(notes)s."),
                   {"reasons": Message(N_("%(first)s and %(second)s"), {"first": reasons[0], "second": reasons[1]})
                    if len(reasons) == 2 else reasons[0], "notes": _semicolons(notes)})


def _semicolons(notes):
    if len(notes) == 1:
        return notes[0]
    return Message(N_("%(first)s; %(second)s"), {"first": notes[0], "second": notes[1]})


def _names(roles, limit=10):
    return ", ".join(roles[:limit]) + (" …" if len(roles) > limit else "")


# "pg_restore: from TOC entry 3197; 1259 16511 INDEX t_bucket postgres"
_TOC_ITEM = re.compile(r"^pg_restore: from TOC entry \d+; \d+ \d+ (.+?) (?:\(no owner\)|\S*)$")


def _failure_message(tool, code) -> Message:
    """The first error pg_restore reported, with its DETAIL/HINT lines and
    the archive item it was restoring, as one sentence."""
    lines = list(tool.stderr_tail)
    first = next((i for i, l in enumerate(lines) if re.match(r"^pg_restore: (error|fatal):", l)), None)
    where = ""
    if first is None:
        text = tool.errors()
        if not text:
            return Message(N_("pg_restore failed: %(reason)s"), {"reason": Message(
                N_("it stopped with exit status %(code)s without saying why"), {"code": code})})
    else:
        parts = [re.sub(r"^pg_restore: (error|fatal): ", "", lines[first])]
        for line in lines[first + 1:]:
            if line.startswith(("pg_restore:", "Command was:")):
                break
            parts.append(line)
        text = " ".join(parts)
        item = next((m for l in reversed(lines[:first]) if (m := _TOC_ITEM.match(l))), None)
        if item:
            where = item.group(1)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > 1000:
        text = text[:1000] + " …"
    if where:
        return Message(N_("pg_restore failed on %(item)s: %(reason)s"), {"item": where, "reason": text})
    return Message(N_("pg_restore failed: %(reason)s"), {"reason": text})


class DataTracker:
    """How much of the dump's table data is in the scratch database.

    Finished tables come from pg_restore --verbose: with one job, a table is
    done when the next item starts; with several, pg_restore says "finished
    item N". Tables being copied count by the share of their COPY stream the
    server has read; large objects by how many of them pg_restore has named.
    """

    # Matched against one message, without its "pg_restore: " prefix.
    _DATA_START = re.compile(r'^processing data for table "(.*)"$')
    _BLOBS_START = re.compile(r"^processing BLOBS")
    _ONE_BLOB = re.compile(r"^restoring large object with OID ")
    _FINISHED = re.compile(r"^finished item (\d+) ")
    _NEXT_ITEM = re.compile(r"^(creating|executing|processing|launching|finished|entering) ")
    _PREFIX = "pg_restore: "

    def __init__(self, archive, parallel):
        self.parallel = parallel
        self.weights = {dump_id: block.raw_bytes for dump_id, block in archive.blocks.items()}
        self.total = sum(self.weights.values())
        self.by_name = {}
        self.large_objects = {}  # BLOBS dump_id -> how many large objects it holds
        for dump_id, block in archive.blocks.items():
            entry = archive.entry(dump_id)
            if entry.desc == "TABLE DATA":
                self.by_name[entry.qualified_name] = dump_id
            elif block.large_objects:
                self.large_objects[dump_id] = block.large_objects
        self._lock = threading.Lock()
        self.finished = set()
        self.active = {}  # dump_id -> fraction copied
        self._current = None  # the item being loaded, with one job
        self._blobs_done = {}  # BLOBS dump_id -> large objects restored so far

    def on_line(self, line):
        # Parallel workers share pg_restore's stderr, and pg_restore writes a
        # message's "pg_restore: " prefix and its text in two writes: under
        # load another process's message can fall between them, so a line
        # may hold two prefixes, or a message may arrive without its own.
        # Each piece between prefixes is read as one message.
        for message in line.split(self._PREFIX):
            if message.strip():
                self._on_message(message.strip())

    def _on_message(self, line):
        with self._lock:
            if self._ONE_BLOB.match(line):
                self._large_object_restored()
                return
            if not self.parallel and self._current is not None and self._NEXT_ITEM.match(line):
                self._finish(self._current)
                self._current = None
            start = self._DATA_START.match(line)
            dump_id = self.by_name.get(start.group(1)) if start else None
            if dump_id is None and self._BLOBS_START.match(line):
                dump_id = next((d for d in self.large_objects if d not in self.finished and d not in self.active), None)
            if dump_id is not None:
                if dump_id not in self.finished:
                    self.active.setdefault(dump_id, 0.0)
                    self._current = dump_id
                return
            finished = self._FINISHED.match(line)
            if finished and int(finished.group(1)) in self.weights:
                self._finish(int(finished.group(1)))

    def _large_object_restored(self):
        """Large objects are not COPYed: count them as pg_restore names them."""
        loading = [d for d in self.active if d in self.large_objects]
        if len(loading) == 1:
            dump_id = loading[0]
            self._blobs_done[dump_id] = self._blobs_done.get(dump_id, 0) + 1
            fraction = min(MAX_LIVE_FRACTION, self._blobs_done[dump_id] / self.large_objects[dump_id])
            self.active[dump_id] = max(self.active[dump_id], fraction)

    def _finish(self, dump_id):
        self.active.pop(dump_id, None)
        self.finished.add(dump_id)

    def update_copies(self, copies):
        """``copies``: ("schema.table", bytes the server has read) per COPY running."""
        with self._lock:
            for name, processed in copies:
                dump_id = self.by_name.get(name)
                if dump_id in self.active and self.weights[dump_id]:
                    fraction = min(MAX_LIVE_FRACTION, processed / self.weights[dump_id])
                    self.active[dump_id] = max(self.active[dump_id], fraction)

    def done_bytes(self):
        with self._lock:
            done = sum(self.weights[d] for d in self.finished)
            done += sum(self.weights[d] * fraction for d, fraction in self.active.items())
        return int(done)


class CopyWatch:
    """Reads pg_stat_progress_copy (PostgreSQL 14+) for the COPYs into this database."""

    QUERY = (
        "SELECT n.nspname || '.' || c.relname, p.bytes_processed FROM pg_stat_progress_copy p "
        "JOIN pg_class c ON c.oid = p.relid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE p.datname = current_database()"
    )

    def __init__(self, conn):
        self.conn = conn
        version = server_version_num(conn)
        self.enabled = version >= 140000
        if not self.enabled:
            log.info("server %s has no pg_stat_progress_copy; progress moves table by table", version)

    def read(self):
        if not self.enabled:
            return []
        try:
            return self.conn.execute(self.QUERY).fetchall()
        except psycopg.Error:
            # Progress is a nicety: a failing poll must not stop the restore.
            log.warning("reading pg_stat_progress_copy failed; progress moves table by table", exc_info=True)
            self.enabled = False
            return []
