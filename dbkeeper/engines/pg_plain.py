"""PostgreSQL plain SQL dumps (``pg_dump -Fp``), raw or gzipped, restored
through ``psql -X -v ON_ERROR_STOP=1``.

A SQL file is a script: psql would also run the meta-commands in it (``\\!``
runs a shell command, ``\\connect`` switches database, ``\\copy``/``\\o``/``\\i``
read and write files). inspect() reads the whole file through sqlscan and
refuses any of them, except the ``\\restrict KEY`` / ``\\unrestrict KEY`` pair
that current pg_dump writes. restore() feeds the file to psql from Python:
the file's own ``\\restrict`` lines are left out and a ``\\restrict`` line with
a key of ours goes first, so that psql itself refuses any meta-command should
one ever get past the scanner (say, after the file switched the session to a
client encoding such as SJIS, in which psql reads bytes differently). psql
older than 13.22/14.19/15.14/16.10/17.6 has no ``\\restrict``; there the
scanner is the only guard.

ON_ERROR_STOP matters for safety too: if a ``COPY ... FROM stdin`` failed and
psql went on, it would read the COPY data lines as commands.

``dbkeeper restore FILE`` does not read the whole file before it asks for
confirmation: preview() reads its schema (up to its first COPY data, at most
PREVIEW_BYTES), and the feed scans the rest on its way to psql. A refused
meta-command then stops the feed before psql gets that line, and psql is
killed: only the scratch copy had been written, by a role that can change
nothing else (pgscratch), and it is dropped. A file cut short is found the
same way, before psql reads the end of its input (psql would run an
unfinished last statement at end of file).
"""

import contextlib
import gzip
import logging
import re
import secrets
import subprocess
import threading
import zlib
from pathlib import Path

from ..errors import BackupRejected, RestoreFailed
from ..messages import Message, N_
from ..procs import Tool, pg_tool
from ..streams import GZIP_MAGIC, UTF8_BOM, StreamSource, is_gzip
from ..targets.pgneeds import Needs, note_statement, skipped_by
from ..targets.pgroles import (
    ROLE_SPECS, RoleFacts, client_version, created_object, is_default_privileges, owner_statement_object,
    role_switch, role_switch_failure, role_switch_refused, statement_roles,
)
from .base import BackupInfo, Engine
from .sqlscan import SqlScanner

log = logging.getLogger(__name__)

CHUNK = 1 << 20
HEAD_KEEP = 64 * 1024
TAIL_KEEP = 4096
# A statement shorter than this is held back from psql until it ends, so
# that it can be left out whole (ALTER ... OWNER TO a missing role).
HOLD_LIMIT = 64 * 1024
MAX_ROLES_LISTED = 1000
MAX_RESTRICT_LINES = 16
# How much of a file preview() reads when no COPY data comes first.
PREVIEW_BYTES = 8 << 20

PG_DUMP_HEADER = b"-- PostgreSQL database dump"
PG_DUMP_TRAILER = b"-- PostgreSQL database dump complete"

_SQL_WORDS = {
    "abort", "alter", "analyze", "begin", "call", "checkpoint", "close", "cluster", "comment", "commit", "copy",
    "create", "deallocate", "declare", "delete", "discard", "do", "drop", "end", "execute", "explain", "grant",
    "import", "insert", "listen", "lock", "merge", "notify", "prepare", "refresh", "reindex", "release", "reset",
    "revoke", "rollback", "savepoint", "security", "select", "set", "show", "start", "table", "truncate",
    "unlisten", "update", "vacuum", "values", "with",
}
_LEADING_COMMENTS = re.compile(rb"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S)
_FIRST_WORD = re.compile(rb"([A-Za-z]+)(?![A-Za-z0-9_])")
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_DUMPED_FROM = re.compile(rb"^-- Dumped from database version (.+?)\r?$", re.M)
_DUMPED_BY = re.compile(rb"^-- Dumped by pg_dump version (.+?)\r?$", re.M)
_PSQL_ERROR = re.compile(r"^psql:<stdin>:(\d+): (ERROR|FATAL|PANIC):\s+(.*)$")

__all__ = ["PgPlainEngine", "PsqlFeed", "RoleFacts", "statement_roles", "created_table", "psql_failure",
           "restrict_supported", "read_sql", "looks_like_sql", "ROLE_SPECS"]


class PgPlainEngine(Engine):
    format = "pg_plain"
    label = N_("PostgreSQL plain SQL dump")
    sniff_last = True  # any text that starts like SQL
    target_kinds = ("postgresql",)
    sniff_bytes = 4096

    def sniff(self, head: bytes) -> bool:
        return looks_like_sql(head)

    def can_stream(self) -> bool:
        return True  # psql reads its standard input, which dbkeeper feeds

    def inspect(self, path) -> BackupInfo:
        path = _local(path)
        facts = SqlFacts()
        scanner = facts.scanner()
        for chunk in read_sql(path):
            facts.saw(chunk)
            scanner.feed(chunk)
        scanner.finish()
        facts.check_whole(scanner)
        return facts.info(self, path, scanner)

    def preview(self, path) -> BackupInfo:
        """What ``dbkeeper restore`` shows before it asks for confirmation,
        from the file's schema alone: up to its first COPY data (all of a
        pg_dump file's tables, extensions and languages come before it), at
        most PREVIEW_BYTES. A meta-command there is refused now; the rest is
        scanned on its way to psql (restore). A file read to its end gets the
        full inspect."""
        path = _local(path)
        facts = SqlFacts()
        scanner = facts.scanner()
        read = 0
        for chunk in read_sql(path, chunk_size=256 * 1024):
            facts.saw(chunk)
            scanner.feed(chunk)
            read += len(chunk)
            if facts.copy_seen or read >= PREVIEW_BYTES:
                return facts.info(self, path, scanner, partial=True)
        scanner.finish()
        facts.check_whole(scanner)
        return facts.info(self, path, scanner)

    def restore(self, path, info: BackupInfo, target, progress) -> None:
        roles = RoleFacts.of(target)
        partial = bool(info.details.get("partial"))
        progress.set_total(info.details.get("uncompressed_size") or 0, "bytes")
        psql = pg_tool("psql")
        guard = restrict_supported(psql)
        # As the role the backup's content runs as (a throwaway one for a privileged target).
        least_privilege = getattr(target, "runas", None) is not None
        env = {**target.content_url.libpq_env(), "PGCLIENTENCODING": "UTF8", "PGAPPNAME": "dbkeeper psql"}
        # No --single-transaction: the scratch database is dropped on failure
        # anyway, and one transaction over a large schema can run out of locks.
        tool = Tool([psql, "-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-f", "-"], env=env, stdin=subprocess.PIPE)
        made = target.prepare_content(Needs.from_dict(info.details.get("needs")), progress) if least_privilege else set()
        named, lines = info.details.get("roles"), info.details.get("restrict_lines")
        if least_privilege or partial or made or named is None or lines is None or not all(roles.usable(r) for r in named):
            known_drops = None  # scan it on the way: refuse, leave out, learn what it holds
        else:
            known_drops = lines  # inspect read it all: only its \restrict lines go
        facts = SqlFacts() if partial else None
        feed = PsqlFeed(path, tool.proc.stdin, roles, guard_key=secrets.token_hex(16) if guard else None,
                        known_drops=known_drops, made=made, facts=facts, least_privilege=least_privilege)
        log.info("feeding %s to psql (%s)", _name_of(path),
                 "scanning it on the way" if partial else
                 "reading it again for role statements" if known_drops is None else "as inspected")
        thread = threading.Thread(target=feed.run, name="psql-feed", daemon=True)
        thread.start()
        try:
            while thread.is_alive():
                thread.join(0.25)
                progress.advance(feed.fed)
            if feed.error is not None:
                raise feed.error
            while True:  # psql finishes what it has read (index builds, constraints)
                try:
                    code = tool.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    progress.check_cancel()
        except BaseException:
            tool.kill()
            thread.join(timeout=10)
            _close_quietly(tool.proc.stdin)
            raise
        if code != 0:
            failure = psql_failure(tool, line_shift=1 if guard else 0)
            if least_privilege and role_switch_refused(tool.stderr_tail):
                failure = role_switch_failure(failure)
            raise RestoreFailed(failure)
        if feed.broken:
            raise RestoreFailed(N_("psql stopped reading the SQL file before its end."))
        if facts is not None:
            # Scanned on the way: now the checks and the result know all of it.
            whole = facts.info(self, path, feed.scanner)
            info.tables, info.details = whole.tables, whole.details
            progress.set_total(feed.fed, "bytes")
        progress.advance(feed.fed)
        progress.flush(force=True)  # "all of it fed" is worth showing even after a quick restore
        if least_privilege:
            # Owners are set by dbkeeper after the checks (pghandover), where safe.
            target.backup_owners = feed.owners
            target.default_privileges = feed.default_privileges
            if feed.switched_to:
                progress.event(Message(
                    N_("The backup's SQL switches to the roles %(roles)s (SET ROLE, SET SESSION AUTHORIZATION): "
                       "dbkeeper left those statements out, ran the SQL as its unprivileged restore role, and gives "
                       "the objects made as those roles back to them where this server allows it."),
                    {"roles": _names(feed.switched_to)}))
            if feed.missing_roles:
                progress.event(Message(
                    N_("The backup refers to roles this server does not have (%(roles)s): the ownership or privilege "
                       "statements naming them were left out."),
                    {"roles": _names(feed.missing_roles)}), level="warning")
        elif feed.skipped:
            reasons = []
            if feed.missing_roles:
                reasons.append(Message(N_("roles this server does not have (%(roles)s)"),
                                       {"roles": _names(feed.missing_roles)}))
            if feed.foreign_roles:
                reasons.append(Message(N_("roles %(user)s may not act as (%(roles)s)"),
                                       {"user": roles.user, "roles": _names(feed.foreign_roles)}))
            progress.event(Message(
                N_("The backup refers to %(reasons)s: %(count)s ownership or privilege statement(s) naming them "
                   "were left out, so those objects belong to %(user)s, the user dbkeeper connects as."),
                {"reasons": reasons[0] if len(reasons) == 1 else Message(
                    N_("%(first)s and %(second)s"), {"first": reasons[0], "second": reasons[1]}),
                 "count": feed.skipped, "user": roles.user}),
                level="warning",
            )


class SqlFacts:
    """What reading a SQL file tells, fed chunk by chunk and statement by
    statement: its tables (with the rows of their COPY data), the roles and
    extensions it names, its allowed \\restrict lines, and whether it is whole."""

    def __init__(self):
        self.tables = set()
        self.rows = {}  # "schema.table" -> rows of its COPY data
        self.roles = set()
        self.needs = Needs()
        self.metas = []
        self.copy_seen = False  # a COPY ... FROM stdin statement was read: its data follows
        self.head = bytearray()
        self.tail = b""
        self.total = 0

    def scanner(self, also_statement=None, also_meta=None) -> SqlScanner:
        def on_statement(statement):
            self.on_statement(statement)
            if also_statement is not None:
                also_statement(statement)

        def on_meta(meta):
            self.metas.append(meta)
            if also_meta is not None:
                also_meta(meta)

        return SqlScanner(on_statement=on_statement, on_meta=on_meta, on_copy=self.on_copy)

    def saw(self, chunk):
        self.total += len(chunk)
        if len(self.head) < HEAD_KEEP:
            self.head += chunk[: HEAD_KEEP - len(self.head)]
        self.tail = (self.tail + chunk[-TAIL_KEEP:])[-TAIL_KEEP:]

    def on_statement(self, statement):
        table = created_table(statement)
        if table:
            self.tables.add(table)
        elif statement.is_copy_from_stdin():
            self.copy_seen = True
        note_statement(self.needs, statement)
        if len(self.roles) < MAX_ROLES_LISTED:
            acting, grantees = statement_roles(statement)
            self.roles.update(acting, grantees)

    def on_copy(self, statement, rows):
        table = copied_table(statement)
        if table:
            self.rows[table] = self.rows.get(table, 0) + rows

    @property
    def from_pg_dump(self) -> bool:
        return PG_DUMP_HEADER in self.head[:1024]

    def check_whole(self, scanner):
        """BackupRejected unless the file (read to its end) is complete SQL."""
        where = scanner.unterminated()
        if where:
            raise BackupRejected(N_("The SQL file ends inside %(where)s; it was probably cut short."), params={"where": where})
        if self.from_pg_dump and PG_DUMP_TRAILER not in self.tail:
            raise BackupRejected(N_(
                "The SQL dump is incomplete: it lacks pg_dump's closing line "
                '"PostgreSQL database dump complete", so the file was cut short.'
            ))
        if scanner.statements == 0:
            raise BackupRejected(N_("The SQL file holds no SQL statement."))

    def info(self, engine, path, scanner, partial=False) -> BackupInfo:
        path = _local(path)
        server = _DUMPED_FROM.search(self.head)
        dumped_by = _DUMPED_BY.search(self.head)
        compressed = is_gzip(path)
        details = {
            "uncompressed_size": _estimated_size(path) if partial and compressed else
                                 _file_size(path) if partial else self.total,
            "statements": scanner.statements,
            "copy_blocks": scanner.copy_blocks,
            "copy_rows": scanner.copy_rows,
            "pg_dump": self.from_pg_dump,
            "pg_dump_version": dumped_by.group(1).decode("utf-8", "replace").strip() if dumped_by else None,
            "restrict": bool(self.metas),
            # Roles named by ownership and privilege statements (roles the
            # target lacks make restore leave those statements out).
            "roles": sorted(self.roles) if len(self.roles) < MAX_ROLES_LISTED else None,
            # Where the allowed \restrict lines are, so restore need not scan again.
            "restrict_lines": [[m.start, m.end] for m in self.metas] if len(self.metas) <= MAX_RESTRICT_LINES else None,
            # Extensions, event triggers and languages: what dbkeeper will do about them depends on the target.
            "needs": self.needs.as_dict(),
            # Rows of each table's COPY data (a dump written with INSERTs has none).
            "table_rows": dict(sorted(self.rows.items())),
        }
        if partial:
            # Only the schema was read (preview): restore scans the rest on its way to psql.
            details["partial"] = True
        return BackupInfo(
            format=engine.format,
            label=engine.label,
            size=_file_size(path),
            compressed=compressed,
            tables=sorted(self.tables),
            server_version=server.group(1).decode("utf-8", "replace").strip() if server else None,
            details=details,
        )


def _local(path):
    """A path as a Path; a StreamSource (remote storage) as it is."""
    return path if isinstance(path, StreamSource) else Path(path)


def _name_of(path) -> str:
    return str(path) if isinstance(path, StreamSource) else Path(path).name


def _file_size(path) -> int:
    if isinstance(path, StreamSource):
        return path.size or 0
    return path.stat().st_size


def _estimated_size(path) -> int:
    """A gzipped file's uncompressed size from its trailer (modulo 4 GiB, so
    never less than the compressed size): for progress only (0: unknown)."""
    if isinstance(path, StreamSource):
        return 0  # the trailer is at the end of a stream
    size = path.stat().st_size
    with open(path, "rb") as raw:
        raw.seek(max(0, size - 4))
        isize = int.from_bytes(raw.read(4), "little")
    while isize < size:
        isize += 1 << 32
    return isize


class PsqlFeed:
    """Streams the SQL file into psql's standard input (run in a thread):
    leaves out the file's \\restrict lines and the statements that name roles
    the server lacks, puts our own \\restrict line first, and counts the bytes
    read for progress. Dropped statements are replaced by their newlines so
    psql's line numbers stay those of the file (plus our first line)."""

    def __init__(self, path, sink, roles, guard_key=None, known_drops=None, made=(), facts=None,
                 least_privilege=False):
        self.path = _local(path)
        # Given when the file was only previewed: what the scan finds, and whether the file is whole.
        self.facts = facts
        self.scanner = None
        self.made = set(made)  # what dbkeeper created before the content (pgneeds): not created again
        self.known_drops = known_drops
        self.sink = sink
        self.roles = roles
        self.guard_key = guard_key
        self.fed = 0  # bytes of the (decompressed) file read so far
        self.error = None
        self.broken = False
        self.missing_roles = set()
        self.foreign_roles = set()  # roles that exist but the restoring user may not act as
        self.skipped = 0
        self.owners = {}  # (kind, schema, name) -> role, from the ALTER ... OWNER TO statements left out
        self.default_privileges = []  # (role, text) of the ALTER DEFAULT PRIVILEGES FOR ROLE statements left out
        # Running as a throwaway role: SET ROLE / SET SESSION AUTHORIZATION are
        # left out, and the objects created after one are recorded for the role it named.
        self.least_privilege = least_privilege
        self.acting_as = None
        self.switched_to = set()
        self._drops = []  # (start, end) byte ranges of the file to leave out
        self._out = bytearray()
        self._out_base = 0  # file offset of self._out[0]

    def run(self):
        try:
            if self.guard_key:
                self.sink.write(f"\\restrict {self.guard_key}\n".encode())
            facts = self.facts
            if facts is not None:
                scanner = facts.scanner(also_statement=self._on_statement, also_meta=self._on_meta)
            elif self.known_drops is None:
                scanner = SqlScanner(on_statement=self._on_statement, on_meta=self._on_meta)
            else:
                scanner = None
                self._drops = sorted((start, end) for start, end in self.known_drops)
            self.scanner = scanner
            for chunk in read_sql(self.path):
                if facts is not None:
                    facts.saw(chunk)
                self._out += chunk
                safe = self._out_base + len(self._out)
                if scanner is not None:
                    scanner.feed(chunk)
                    safe = scanner.offset
                    held = scanner.statement_start()
                    if held is not None and safe - held < HOLD_LIMIT:
                        safe = held
                self._emit(safe)
                self.fed += len(chunk)
            if scanner is not None:
                scanner.finish()
            if facts is not None:
                # Before psql sees the end of its input: it would run a statement the file left unfinished.
                facts.check_whole(scanner)
            self._emit(self._out_base + len(self._out))
            self.sink.close()
        except BrokenPipeError:
            # psql exited (an error in the SQL); its exit status and messages tell why.
            self.broken = True
        except Exception as exc:  # handed to the main thread, which stops psql
            self.error = exc

    def _on_meta(self, meta):
        self._drops.append((meta.start, meta.end))

    def _on_statement(self, statement):
        if self.made and skipped_by(self.made, statement) and statement.start >= self._out_base:
            self._drops.append((statement.start, statement.end))
            return
        if self.least_privilege and self._role_switch(statement):
            return
        acting, grantees = statement_roles(statement)
        if not acting and not grantees:
            return
        missing = {r for r in acting + grantees if not self.roles.exists(r)}
        foreign = {r for r in acting if self.roles.exists(r) and not self.roles.usable(r)}
        if not self.roles.superuser and statement.first_word() == "set" and \
                (role_switch(statement) or ("",))[0] == "session authorization":
            # Only a superuser may SET SESSION AUTHORIZATION, membership or not.
            foreign |= {r for r in acting if self.roles.exists(r) and r != self.roles.user}
        if (missing or foreign) and statement.start >= self._out_base:
            self._drops.append((statement.start, statement.end))
            self.missing_roles |= missing
            self.foreign_roles |= foreign
            self.skipped += 1
            owned = owner_statement_object(statement) if acting else None
            if owned is not None:
                self.owners[owned] = acting[-1]
            elif len(acting) == 1 and is_default_privileges(statement):
                text = bytes(self._out[statement.start - self._out_base:statement.end - self._out_base])
                self.default_privileges.append((acting[0], text.decode("utf-8", "replace")))

    def _role_switch(self, statement) -> bool:
        """Leaves out a statement that switches roles, remembering the role;
        records the objects created while one is in force. True when the
        statement is left out."""
        switch = role_switch(statement)
        if switch is None:
            if self.acting_as is not None:
                created = created_object(statement)
                if created is not None:
                    self.owners[created] = self.acting_as
            return False
        if statement.start < self._out_base:
            return False  # already on its way to psql (cannot happen for so short a statement): it fails there
        self._drops.append((statement.start, statement.end))
        role = switch[1]
        self.acting_as = role if role and role.lower() not in ROLE_SPECS else None
        if self.acting_as:
            self.switched_to.add(self.acting_as)
        return True

    def _emit(self, upto):
        out, base = self._out, self._out_base
        written = base
        drops = self._drops
        # Written through a view: the bytes go to the pipe without another copy in between.
        with memoryview(out) as view:
            while drops and drops[0][0] < upto:
                start, end = drops[0]
                if end > upto:  # the rest of it has not been read yet
                    upto = start
                    break
                drops.pop(0)
                if start > written:
                    self.sink.write(view[written - base:start - base])
                self.sink.write(b"\n" * out.count(b"\n", start - base, end - base))
                written = end
            if upto > written:
                self.sink.write(view[written - base:upto - base])
                written = upto
        del out[: written - base]
        self._out_base = written


def _names(roles, limit=10):
    roles = sorted(roles)
    return ", ".join(roles[:limit]) + (" …" if len(roles) > limit else "")


def _close_quietly(stream):
    try:
        stream.close()
    except OSError:
        pass


# -- reading the file -----------------------------------------------------------

def read_sql(path, chunk_size=CHUNK):
    """The file's bytes, decompressed if gzipped, in chunks, without a leading
    UTF-8 byte order mark (psql would send it as part of the first statement)."""
    path = _local(path)
    first = True
    try:
        with _open_sql(path) as stream:
            while True:
                chunk = stream.read(chunk_size)
                if not chunk:
                    return
                if first:
                    first = False
                    if chunk.startswith(UTF8_BOM):
                        chunk = chunk[len(UTF8_BOM):]
                yield chunk
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BackupRejected(N_("The gzipped SQL file is damaged or cut short: %(error)s."), params={"error": str(exc)}) from exc


@contextlib.contextmanager
def _open_sql(path):
    """The file's bytes as a binary stream, gunzipped as they are read when
    gzipped; a StreamSource's stream (and what feeds it) is closed with it."""
    if isinstance(path, StreamSource):
        raw = path.open()
        try:
            if raw.peek(len(GZIP_MAGIC)) == GZIP_MAGIC:
                with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                    yield unzipped
            else:
                yield raw
        finally:
            raw.close()
        return
    with (gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")) as stream:
        yield stream


def looks_like_sql(head: bytes) -> bool:
    """Text that starts (after comments) with a SQL command, or a pg_dump header."""
    if not head:
        return False
    text = head[len(UTF8_BOM):] if head.startswith(UTF8_BOM) else head
    if _BINARY_BYTES.search(text):
        return False
    if PG_DUMP_HEADER in text[:512]:
        return True
    rest = text[_LEADING_COMMENTS.match(text).end():]
    if re.match(rb"\\[A-Za-z!]", rest):
        return True  # a psql script: inspect says which command it refuses
    word = _FIRST_WORD.match(rest)
    return bool(word) and word.group(1).decode().lower() in _SQL_WORDS


def restrict_supported(psql) -> bool:
    """psql has \\restrict since 13.22, 14.19, 15.14, 16.10, 17.6 and 18."""
    version = client_version(psql)
    if version is None:
        return False
    major, minor = version
    first_minor = {13: 22, 14: 19, 15: 14, 16: 10, 17: 6}
    return major >= 18 or (major in first_minor and minor >= first_minor[major])


def psql_failure(tool, line_shift=0) -> Message:
    """A sentence from psql's error output: the first
    error and the file line it was on."""
    lines = list(tool.stderr_tail)
    for i, line in enumerate(lines):
        m = _PSQL_ERROR.match(line)
        if m:
            where = int(m.group(1)) - line_shift
            detail = next((l.strip() for l in lines[i + 1:i + 4] if l.startswith("DETAIL:")), "")
            text = f"{m.group(2)}: {m.group(3).strip()}" + (f" {detail}" if detail else "")
            return Message(N_("psql stopped at an error: %(error)s (line %(line)s of the SQL file)."),
                           {"error": text, "line": where})
    errors = tool.errors()
    if errors:
        return Message(N_("psql failed: %(error)s"), {"error": errors})
    return Message(N_("psql failed with exit status %(code)s."), {"code": tool.proc.returncode})


# -- what statements say ---------------------------------------------------------

def _name(token):
    if token.kind in ("word", "quoted"):
        return token.text
    return None


def created_table(statement) -> str | None:
    """"schema.table" for CREATE [UNLOGGED] TABLE [IF NOT EXISTS] name."""
    tokens = statement.tokens
    i = 0
    if statement.first_word() != "create":
        return None
    i = 1
    while i < len(tokens) and tokens[i].kind == "word" and tokens[i].text in ("global", "local", "temporary", "temp", "unlogged"):
        if tokens[i].text in ("temporary", "temp"):
            return None
        i += 1
    if i >= len(tokens) or tokens[i].kind != "word" or tokens[i].text != "table":
        return None
    i += 1
    if [t.text for t in tokens[i:i + 3]] == ["if", "not", "exists"]:
        i += 3
    return _table_name(tokens, i)


def _table_name(tokens, i) -> str | None:
    """"schema.table" from a possibly schema-qualified name at tokens[i] (public when unqualified)."""
    parts = []
    while i < len(tokens):
        name = _name(tokens[i])
        if name is None:
            break
        parts.append(name)
        if i + 1 < len(tokens) and tokens[i + 1].kind == "punct" and tokens[i + 1].text == ".":
            i += 2
            continue
        break
    if not parts:
        return None
    return f"public.{parts[0]}" if len(parts) == 1 else f"{parts[-2]}.{parts[-1]}"


def copied_table(statement) -> str | None:
    """"schema.table" for COPY name [(columns)] FROM stdin."""
    tokens = statement.tokens
    if statement.first_word() != "copy":
        return None
    return _table_name(tokens, 1)
