"""Opening a zip file from someone else safely.

Every entry is checked from the central directory before anything is
unpacked: no absolute paths, no ``..``, no links or device files, no
encrypted or duplicate entries, no entries whose data overlap (a zip bomb
that reuses the same bytes many times), a bounded number of entries and
total size, and no absurd compression ratio. While unpacking, the bytes that
actually come out are counted too, because headers can lie.
"""

import logging
import os
import re
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import BackupRejected
from ..messages import Message, N_

# What the standard library can decompress; anything else is refused before opening.
READABLE_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
# Deflate cannot do better than about 1032:1; real dumps and files stay far below this.
MAX_RATIO = 200
# Entries smaller than this cannot hurt whatever their ratio.
RATIO_FLOOR = 16 * 1024 * 1024
WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def _size(n) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


class SafeZip:
    """A zip file whose entries passed the checks. Use as a context manager.
    ``what`` names the file in its sentences ("The Odoo backup was refused
    …"): a Message, or a template marked with N_."""

    def __init__(self, path, max_total, max_entries, what=N_("zip file")):
        self.path = Path(path)
        self.max_total = int(max_total)
        self.max_entries = int(max_entries)
        self.what = what = Message(what)
        try:
            self.zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise BackupRejected(N_("The %(what)s cannot be read as a zip file: %(error)s."),
                                 params={"what": what, "error": str(exc)}) from exc
        try:
            self.entries = self._checked_entries()
        except BaseException:
            self.zip.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.zip.close()

    def close(self):
        self.zip.close()

    # -- the checks ----------------------------------------------------------------
    def _refuse(self, template, **params):
        """The refusal, with why (a phrase: ``template`` and its ``params``)."""
        reason = Message(template, params)
        log.warning("refused %s: %s", self.path.name, reason)
        return BackupRejected(N_("The %(what)s was refused before anything was unpacked: %(reason)s."),
                              params={"what": self.what, "reason": reason})

    def _checked_entries(self) -> dict:
        infos = self.zip.infolist()
        if len(infos) > self.max_entries:
            raise self._refuse(N_("it holds %(count)s entries, more than the limit of %(limit)s"),
                               count=f"{len(infos):,}", limit=f"{self.max_entries:,}")
        entries = {}
        total = 0
        for info in infos:
            name = self._checked_name(info)
            if name in entries:
                raise self._refuse(N_("the entry %(name)s appears twice"), name=name)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise self._refuse(N_("the entry %(name)s is a symbolic link"), name=name)
            if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise self._refuse(N_("the entry %(name)s is not a regular file or folder"), name=name)
            if info.flag_bits & 0x1:
                raise self._refuse(N_("the entry %(name)s is encrypted"), name=name)
            if info.compress_type not in READABLE_METHODS:
                raise self._refuse(N_("the entry %(name)s uses a compression method dbkeeper cannot read"), name=name)
            if info.file_size and info.compress_size == 0 and info.compress_type != zipfile.ZIP_STORED:
                raise self._refuse(N_("the entry %(name)s claims %(size)s from no data at all (a zip bomb)"),
                                   name=name, size=_size(info.file_size))
            if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(1, info.compress_size):
                raise self._refuse(N_("the entry %(name)s would grow from %(packed)s to %(size)s (a zip bomb)"),
                                   name=name, packed=_size(info.compress_size), size=_size(info.file_size))
            total += info.file_size
            entries[name] = info
        if total > self.max_total:
            raise self._refuse(N_("it would unpack to %(size)s, more than the limit of %(limit)s (a zip bomb?)"),
                               size=_size(total), limit=_size(self.max_total))
        self._check_overlaps(infos)
        self.total = total
        return entries

    def _checked_name(self, info) -> str:
        raw = info.filename
        name = raw.replace("\\", "/")
        if "\x00" in name or not name.strip("/"):
            raise self._refuse(N_("an entry has an invalid name %(name)s"), name=repr(raw))
        if name.startswith("/") or WINDOWS_DRIVE.match(name):
            raise self._refuse(N_("the entry %(name)s has an absolute path"), name=raw)
        parts = PurePosixPath(name).parts
        if ".." in parts:
            raise self._refuse(N_("the entry %(name)s points outside the folder it is unpacked into (..)"), name=raw)
        return name.rstrip("/") + ("/" if info.is_dir() else "")

    def _check_overlaps(self, infos):
        # Each entry's data must end before the next entry's header starts.
        ordered = sorted(infos, key=lambda i: i.header_offset)
        for current, following in zip(ordered, ordered[1:]):
            if current.header_offset + 30 + current.compress_size > following.header_offset:
                raise self._refuse(N_("the entries %(first)s and %(second)s share their data (a zip bomb)"),
                                   first=current.filename, second=following.filename)

    # -- reading -------------------------------------------------------------------
    def __contains__(self, name):
        return name in self.entries

    def files_under(self, prefix):
        return [info for name, info in self.entries.items() if name.startswith(prefix) and not info.is_dir()]

    def read_small(self, name, limit=1024 * 1024) -> bytes:
        info = self.entries[name]
        if info.file_size > limit:
            raise BackupRejected(N_("%(name)s in the %(what)s is %(size)s; at most %(limit)s is expected."),
                                 params={"name": name, "what": self.what, "size": _size(info.file_size), "limit": _size(limit)})
        with self._open(info) as stream:
            return self._read_bounded(stream, info, limit)

    def _open(self, info):
        try:
            return self.zip.open(info)
        except (zipfile.BadZipFile, RuntimeError, OSError) as exc:
            raise BackupRejected(N_("%(name)s in the %(what)s cannot be read: %(error)s."),
                                 params={"name": info.filename, "what": self.what, "error": str(exc)}) from exc

    def _read_bounded(self, stream, info, limit):
        data = bytearray()
        for chunk in self._chunks(stream, info):
            data += chunk
            if len(data) > limit:
                raise BackupRejected(N_("%(name)s in the %(what)s is larger than its header says."),
                                     params={"name": info.filename, "what": self.what})
        return bytes(data)

    def _chunks(self, stream, info):
        produced = 0
        while True:
            try:
                chunk = stream.read(CHUNK)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                raise BackupRejected(N_("%(name)s in the %(what)s is damaged: %(error)s."),
                                     params={"name": info.filename, "what": self.what, "error": str(exc)}) from exc
            if not chunk:
                break
            produced += len(chunk)
            # zipfile stops at the declared size; never trust that alone.
            if produced > info.file_size:
                raise BackupRejected(N_("%(name)s in the %(what)s unpacks to more than its header says (a zip bomb)."),
                                     params={"name": info.filename, "what": self.what})
            yield chunk
        if produced != info.file_size:
            raise BackupRejected(N_("%(name)s in the %(what)s is cut short (%(done)s of %(size)s bytes)."),
                                 params={"name": info.filename, "what": self.what,
                                         "done": f"{produced:,}", "size": f"{info.file_size:,}"})

    def extract_file(self, name, dest, on_bytes=None):
        """Unpack one entry to the new file ``dest``."""
        info = self.entries[name]
        with self._open(info) as stream, open(dest, "xb") as out:
            for chunk in self._chunks(stream, info):
                out.write(chunk)
                if on_bytes:
                    on_bytes(len(chunk))

    def extract_tree(self, prefix, dest_dir, on_bytes=None):
        """Unpack every entry under ``prefix`` into ``dest_dir`` (which exists
        and is empty), without the prefix. Returns the number of files."""
        root = Path(os.path.realpath(dest_dir))
        count = 0
        for name, info in self.entries.items():
            if not name.startswith(prefix) or name == prefix:
                continue
            relative = name[len(prefix):]
            dest = root / relative
            # The names were checked; check the resolved path again all the same.
            if os.path.commonpath([root, os.path.realpath(dest.parent)]) != str(root):
                raise BackupRejected(N_("The entry %(name)s would be unpacked outside its folder; it was refused."),
                                     params={"name": name})
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            self.extract_file(name, dest, on_bytes)
            count += 1
        return count


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)
