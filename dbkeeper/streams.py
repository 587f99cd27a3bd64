"""Small helpers for backup files as byte streams: gzip detection, the UTF-8
byte-order mark some Windows tools write, and sizes for people. One home, so
that every engine recognises a gzipped file the same way."""

import gzip

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"


def is_gzip(path) -> bool:
    """True when the file starts with the gzip magic bytes."""
    with open(path, "rb") as raw:
        return raw.read(len(GZIP_MAGIC)) == GZIP_MAGIC


def open_maybe_gzipped(path):
    """The file as a binary stream, decompressed as it is read when gzipped."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def strip_bom(data: bytes) -> bytes:
    """``data`` without a leading UTF-8 byte-order mark."""
    return data[len(UTF8_BOM):] if data.startswith(UTF8_BOM) else data


def skip_bom(stream):
    """Position ``stream`` (seekable, at its start) after a UTF-8 byte-order
    mark if it has one; JSON parsers and psql refuse the mark. Returns it."""
    if stream.read(len(UTF8_BOM)) != UTF8_BOM:
        stream.seek(0)
    return stream


def human_size(n) -> str:
    """``n`` bytes as people read it: "512 bytes", "1.5 MB" (1 KB = 1024 bytes)."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
