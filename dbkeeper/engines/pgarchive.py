"""Reading a PostgreSQL custom-format archive (``pg_dump -Fc``) without
pg_restore: the header, the table of contents, and a walk over the data
blocks that measures each table's data and finds a truncated or corrupt file.

The layout follows pg_dump's archiver (pg_backup_archiver.c: ReadHead,
ReadToc, ReadInt, ReadStr, ReadOffset; pg_backup_custom.c: the data blocks).
Archive versions 1.12 to 1.16 are read (pg_dump 9.6 to 17).

The file is streamed: data chunks are skipped with a seek, except the first
bytes of each compressed block, which are inflated to learn how much larger
the COPY stream is than what is stored (that is what the server counts while
it copies).
"""

import logging
import os
import zlib
from dataclasses import dataclass, field
from datetime import datetime

from ..errors import BackupRejected
from ..messages import Message, N_, shortened
from ..streams import StreamSource
from ..targets.pgroles import ROLE_SPECS, statements_roles

log = logging.getLogger(__name__)

MAGIC = b"PGDMP"
FORMAT_CUSTOM = 1
FORMAT_NAMES = {1: "custom", 3: "tar", 4: "null", 5: "directory"}
MIN_VERSION = (1, 12)
MAX_VERSION = (1, 16)

# Data blocks (pg_backup_custom.c).
BLK_DATA = 1
BLK_BLOBS = 3

# Data offset flags of a TOC entry (pg_backup_archiver.h).
OFFSET_POS_NOT_SET = 1
OFFSET_POS_SET = 2
OFFSET_NO_DATA = 3

# Compression algorithms as written since archive 1.15 (pg_compress_algorithm).
COMPRESSION_NAMES = {0: "none", 1: "gzip", 2: "lz4", 3: "zstd"}

# How many stored bytes of each compressed block are inflated to measure its
# ratio; the rest of the block is skipped and extrapolated. Inflating whole
# dumps would add a noticeable share to the restore time for little gain.
SAMPLE_BYTES = 1 << 20
# Ratio assumed for algorithms Python cannot inflate without extra packages.
ASSUMED_RATIO = 4.0

BUFFER_SIZE = 1 << 20
UNKNOWN_SIZE = 1 << 62


class ArchiveError(BackupRejected):
    """The archive is not what its header promises; ``.sentence`` says how, for people."""


class Truncated(ArchiveError):
    pass


@dataclass
class Header:
    version: tuple
    int_size: int
    off_size: int
    format: int
    compression: str  # "none", "gzip", "lz4", "zstd"
    compression_level: int | None
    created: datetime | None
    dbname: str
    server_version: str
    pg_dump_version: str

    @property
    def version_text(self):
        return ".".join(str(p) for p in self.version[:2])


@dataclass
class TocEntry:
    dump_id: int
    had_dumper: bool
    table_oid: str
    oid: str
    tag: str
    desc: str
    section: int
    defn: str
    drop_stmt: str
    copy_stmt: str
    namespace: str
    tablespace: str
    tableam: str
    owner: str
    deps: list = field(default_factory=list)
    data_state: int = OFFSET_NO_DATA
    data_pos: int = 0

    @property
    def qualified_name(self):
        return f"{self.namespace}.{self.tag}" if self.namespace else self.tag

    @property
    def has_data(self):
        return self.data_state != OFFSET_NO_DATA

    def describe(self) -> Message | str:
        """How a person would name this entry's data (a phrase inside a sentence)."""
        if self.desc == "TABLE DATA":
            return Message(N_("table %(name)s"), {"name": self.qualified_name})
        if self.desc in ("BLOBS", "BLOB DATA"):
            return Message(N_("the large objects"))
        # Another kind of entry with data: pg_dump's own words for it, as it wrote them.
        return f"{self.desc.lower()} {self.qualified_name}"


@dataclass
class DataBlock:
    dump_id: int
    offset: int
    stored_bytes: int = 0  # sum of the chunk lengths in the file
    raw_bytes: int = 0  # size of the data once inflated (measured or estimated)
    exact: bool = True  # raw_bytes measured, not extrapolated
    large_objects: int = 0  # how many, in a BLOBS block


@dataclass
class Archive:
    path: str
    size: int
    header: Header
    entries: list
    blocks: dict  # dump_id -> DataBlock

    def entry(self, dump_id):
        return self._by_id.get(dump_id)

    def __post_init__(self):
        self._by_id = {e.dump_id: e for e in self.entries}

    @property
    def tables(self):
        return [e.qualified_name for e in self.entries if e.desc == "TABLE"]

    @property
    def data_bytes(self):
        return sum(b.raw_bytes for b in self.blocks.values())

    @property
    def stored_data_bytes(self):
        return sum(b.stored_bytes for b in self.blocks.values())

    def owners(self) -> set:
        return {e.owner for e in self.entries if e.owner}

    def acl_roles(self) -> set:
        """Roles named by the grants (ACL and DEFAULT ACL entries): grantees,
        grantors, and roles the grants are made as."""
        roles = set()
        for _, acting, grantees in self._acl_statements():
            roles |= {r for r in acting + grantees if r.lower() not in ROLE_SPECS}
        return roles

    def session_roles(self) -> set:
        """Roles that grants are made as (SET SESSION AUTHORIZATION), which only a superuser can do."""
        return {r for statement, acting, _ in self._acl_statements() if statement.first_word() == "set" for r in acting}

    def _acl_statements(self):
        for entry in self.entries:
            if entry.desc in ACL_DESCS and entry.defn:
                yield from statements_roles(entry.defn)

    def table_data_bytes(self):
        """"schema.table" -> bytes of its COPY data, for tables that have data."""
        sizes = {}
        for dump_id, block in self.blocks.items():
            entry = self.entry(dump_id)
            if entry.desc == "TABLE DATA":
                sizes[entry.qualified_name] = sizes.get(entry.qualified_name, 0) + block.raw_bytes
        return sizes


ACL_DESCS = ("ACL", "DEFAULT ACL", "ACL LANGUAGE")


class _Reader:
    """pg_dump's integer and string encodings over a buffered file."""

    def __init__(self, fh, size):
        self.fh = fh
        self.size = size
        self.int_size = 4
        self.version = (1, 0, 0)
        self.context = Message(N_("the header"))

    def tell(self):
        return self.fh.tell()

    def read(self, n):
        data = self.fh.read(n)
        if len(data) != n:
            raise Truncated(N_("The dump is truncated: it ends inside %(what)s."), params={"what": self.context})
        return data

    def byte(self):
        return self.read(1)[0]

    def int(self):
        # One sign byte, then int_size bytes, least significant first.
        raw = self.read(1 + self.int_size)
        if raw[0] not in (0, 1):
            raise ArchiveError(N_("The dump is corrupt: an invalid number was found in %(what)s."), params={"what": self.context})
        value = int.from_bytes(raw[1:], "little")
        return -value if raw[0] else value

    def str(self):
        length = self.int()
        if length < 0:
            return None
        if self.tell() + length > self.size:
            raise Truncated(N_("The dump is truncated: it ends inside %(what)s."), params={"what": self.context})
        return self.read(length).decode("utf-8", "replace")

    def offset(self, off_size):
        flag = self.byte()
        if flag not in (OFFSET_POS_NOT_SET, OFFSET_POS_SET, OFFSET_NO_DATA):
            raise ArchiveError(N_("The dump is corrupt: an invalid data offset was found in %(what)s."), params={"what": self.context})
        return flag, int.from_bytes(self.read(off_size), "little")


def read_archive(path, walk_data=True) -> Archive:
    """Parse ``path`` (a file, or a StreamSource read front to back: what
    is skipped is read and discarded); ArchiveError (with a sentence) if it
    is not a readable custom-format archive or is truncated or corrupt."""
    streamed = isinstance(path, StreamSource)
    # A stream of unknown length: only reading past its end finds a truncation.
    size = (path.size or UNKNOWN_SIZE) if streamed else os.path.getsize(path)
    with (path.open() if streamed else open(path, "rb", buffering=BUFFER_SIZE)) as fh:
        reader = _Reader(fh, size)
        header = _read_header(reader)
        entries = _read_toc(reader, header)
        archive = Archive(path=str(path), size=size, header=header, entries=entries, blocks={})
        if walk_data:
            archive.blocks = _walk_data(reader, archive)
            if streamed:
                archive.size = reader.tell()
    return archive


def _read_header(r: _Reader) -> Header:
    if r.read(5) != MAGIC:
        raise ArchiveError(N_("This is not a PostgreSQL custom-format dump: it does not start with PGDMP."))
    major, minor = r.byte(), r.byte()
    revision = r.byte() if (major, minor) > (1, 0) else 0
    version = (major, minor, revision)
    if version[:2] < MIN_VERSION:
        raise ArchiveError(
            N_("This dump has archive version %(version)s, written by a pg_dump older than 9.6, "
               "which dbkeeper does not read: dump it again with a newer pg_dump."),
            params={"version": f"{major}.{minor}"},
        )
    if version[:2] > MAX_VERSION:
        raise ArchiveError(
            N_("This dump has archive version %(version)s, written by a pg_dump newer than dbkeeper "
               "knows (up to 1.16, pg_dump 17)."),
            params={"version": f"{major}.{minor}"},
        )
    r.version = version
    r.int_size = r.byte()
    if not 1 <= r.int_size <= 8:
        raise ArchiveError(N_("The dump is corrupt: its header gives an impossible integer size."))
    off_size = r.byte()
    if not 1 <= off_size <= 16:
        raise ArchiveError(N_("The dump is corrupt: its header gives an impossible offset size."))
    fmt = r.byte()
    if fmt != FORMAT_CUSTOM:
        name = FORMAT_NAMES.get(fmt) or Message(N_("unknown (%(number)s)"), {"number": fmt})
        raise ArchiveError(
            N_("This pg_dump archive is in the %(name)s format; dbkeeper restores the custom format (pg_dump -Fc)."),
            params={"name": name},
        )
    level = None
    if version[:2] >= (1, 15):
        algorithm = r.byte()
        if algorithm not in COMPRESSION_NAMES:
            raise ArchiveError(N_("The dump is corrupt: its header names an unknown compression method."))
        compression = COMPRESSION_NAMES[algorithm]
    else:
        # Before 1.15 only zlib existed; the header holds its level (-1: default, 0: none).
        level = r.int()
        compression = "gzip" if level != 0 else "none"
    sec, minute, hour, mday, mon, year, _isdst = (r.int() for _ in range(7))
    try:
        created = datetime(year + 1900, mon + 1, mday, hour, minute, sec)
    except ValueError:
        created = None
    dbname = r.str() or ""
    server_version = r.str() or ""
    pg_dump_version = r.str() or ""
    return Header(version, r.int_size, off_size, fmt, compression, level, created, dbname, server_version, pg_dump_version)


def _read_toc(r: _Reader, header: Header) -> list:
    r.context = Message(N_("the table of contents"))
    count = r.int()
    if count < 0:
        raise ArchiveError(N_("The dump is corrupt: its table of contents has a negative size."))
    entries = []
    for _ in range(count):
        dump_id = r.int()
        if dump_id <= 0:
            raise ArchiveError(N_("The dump is corrupt: its table of contents holds an invalid entry."))
        had_dumper = bool(r.int())
        table_oid = r.str() or ""
        oid = r.str() or ""
        tag = r.str() or ""
        desc = r.str() or ""
        section = r.int()
        defn = r.str() or ""
        drop_stmt = r.str() or ""
        copy_stmt = r.str() or ""
        namespace = r.str() or ""
        tablespace = r.str() or ""
        tableam = (r.str() or "") if header.version[:2] >= (1, 14) else ""
        if header.version[:2] >= (1, 16):
            r.int()  # relkind
        owner = r.str() or ""
        r.str()  # "with oids", always false since PostgreSQL 12
        deps = []
        while (dep := r.str()) is not None:
            deps.append(int(dep) if dep.isdigit() else dep)
        data_state, data_pos = r.offset(header.off_size)
        entries.append(TocEntry(
            dump_id, had_dumper, table_oid, oid, tag, desc, section, defn, drop_stmt, copy_stmt,
            namespace, tablespace, tableam, owner, deps, data_state, data_pos,
        ))
    return entries


def _walk_data(r: _Reader, archive: Archive) -> dict:
    """Follow the data blocks from the end of the TOC to the end of the file."""
    expected = {e.dump_id: e for e in archive.entries if e.has_data}
    ends = _block_ends(expected.values(), r.size) if r.size != UNKNOWN_SIZE else {}
    compression = archive.header.compression
    blocks = {}
    fh = r.fh
    while True:
        start = fh.tell()
        kind = fh.read(1)
        if not kind:
            break
        r.context = Message(N_("a data block header"))
        dump_id = r.int()
        entry = expected.get(dump_id)
        if kind[0] not in (BLK_DATA, BLK_BLOBS) or entry is None or dump_id in blocks:
            raise ArchiveError(
                N_("The dump is corrupt: unexpected bytes at position %(position)s where a data block should start."),
                params={"position": f"{start:,}"},
            )
        what = entry.describe()
        if entry.data_state == OFFSET_POS_SET and entry.data_pos != start:
            raise ArchiveError(
                N_("The dump is corrupt: the data of %(what)s is not where its table of contents says."),
                params={"what": what},
            )
        r.context = Message(N_("the data of %(what)s"), {"what": what})
        block = DataBlock(dump_id, start)
        if kind[0] == BLK_DATA:
            _walk_chunks(r, block, compression, what, ends.get(start))
        else:
            # Large objects: (oid, chunks) pairs until an oid of 0.
            while r.int() != 0:
                _walk_chunks(r, block, compression, what)
                block.large_objects += 1
        blocks[dump_id] = block
    missing = [e for dump_id, e in expected.items() if dump_id not in blocks]
    if missing:
        names = shortened([e.describe() for e in missing], 5)
        raise Truncated(N_("The dump is truncated: the data of %(names)s is missing."), params={"names": names})
    return blocks


def _block_ends(entries, file_size) -> dict:
    """Start offset -> end offset of each data block, when the TOC records
    where every block starts (pg_dump wrote to a file, not a pipe). Blocks
    follow each other to the end of the file."""
    if not entries or any(e.data_state != OFFSET_POS_SET for e in entries):
        return {}
    starts = sorted(e.data_pos for e in entries)
    return dict(zip(starts, starts[1:] + [file_size]))


def _walk_chunks(r: _Reader, block: DataBlock, compression: str, what: str, end=None):
    """Length-prefixed chunks ending with a zero length; sums their lengths.

    The first SAMPLE_BYTES are read chunk by chunk (and inflated, for zlib) to
    learn the block's make-up. Past that, when the block's end is known from
    the TOC, the rest is measured from the offsets and only its terminating
    zero length is checked: uncompressed dumps hold one chunk per row, and
    walking millions of them would cost more than the restore can spare.
    """
    fh = r.fh
    header_size = 1 + r.int_size
    inflater = zlib.decompressobj() if compression == "gzip" else None
    sampled_in = sampled_out = 0
    stored = headers = 0
    jumped = False
    while True:
        if end is not None and stored >= SAMPLE_BYTES:
            stored += _jump_to_end(r, end, stored / (stored + headers), what)
            jumped = True
            break
        length = r.int()
        headers += header_size
        if length == 0:
            break
        if length < 0:
            raise ArchiveError(N_("The dump is corrupt: an invalid chunk length was found in the data of %(what)s."),
                               params={"what": what})
        if fh.tell() + length > min(r.size, end or r.size):
            if end is not None and end < r.size or fh.tell() + length <= r.size:
                raise ArchiveError(N_("The dump is corrupt: a piece of the data of %(what)s runs past the end of its block."),
                                   params={"what": what})
            raise _truncated_in_data_of(what)
        if inflater is not None and sampled_in < SAMPLE_BYTES:
            sampled_out += _inflate(inflater, r.read(length), what)
            sampled_in += length
        else:
            fh.seek(length, os.SEEK_CUR)
        stored += length
    block.stored_bytes += stored
    if compression == "none":
        block.raw_bytes += stored
        block.exact = block.exact and not jumped
    elif inflater is not None and sampled_in == stored:
        if stored and (not inflater.eof or inflater.unused_data):
            raise ArchiveError(N_("The dump is corrupt: the compressed data of %(what)s does not end where it should."),
                               params={"what": what})
        block.raw_bytes += sampled_out
    else:
        ratio = (sampled_out / sampled_in) if sampled_in else ASSUMED_RATIO
        block.raw_bytes += int(stored * ratio)
        block.exact = False


def _jump_to_end(r: _Reader, end: int, data_share: float, what: str) -> int:
    """Skip to the block's end, check its terminating zero length, and
    return the estimated data bytes skipped."""
    header_size = 1 + r.int_size
    here = r.tell()
    terminator = end - header_size
    if terminator < here:
        raise ArchiveError(N_("The dump is corrupt: the data of %(what)s runs past where the next block starts."),
                           params={"what": what})
    r.fh.seek(terminator)
    if r.fh.read(header_size) != bytes(header_size):
        if end >= r.size:
            raise _truncated_in_data_of(what)
        raise ArchiveError(N_("The dump is corrupt: the data of %(what)s does not end where its table of contents says."),
                           params={"what": what})
    return int((terminator - here) * data_share)


def _inflate(inflater, data, what):
    """Bytes that ``data`` inflates to, without keeping them (bounded memory)."""
    produced = 0
    try:
        while data:
            produced += len(inflater.decompress(data, BUFFER_SIZE))
            data = inflater.unconsumed_tail
    except zlib.error as exc:
        raise ArchiveError(N_("The dump is corrupt: the data of %(what)s cannot be decompressed (%(error)s)."),
                           params={"what": what, "error": str(exc)}) from exc
    return produced


def _truncated_in_data_of(what) -> Truncated:
    return Truncated(N_("The dump is truncated: it ends inside %(what)s."),
                     params={"what": Message(N_("the data of %(what)s"), {"what": what})})
