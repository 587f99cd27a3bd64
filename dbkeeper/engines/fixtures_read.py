"""Reading a Django fixture file as a stream of objects: shared by the
engine's inspect() (fixtures) and its loader (fixtures_load), so that neither
imports the other's internals."""

import ijson

from ..errors import BackupRejected
from ..messages import N_
from ..streams import open_maybe_gzipped, skip_bom

READ_BUFFER = 256 * 1024


def open_fixture(path):
    """The fixture as a binary stream, decompressed if it is gzipped."""
    stream = open_maybe_gzipped(path)
    # Some Windows tools start a UTF-8 file with a byte-order mark; JSON parsers refuse it.
    return skip_bom(stream)


def iter_objects(stream):
    """The fixture's objects, one dict at a time. Numbers with a fraction
    become floats, as json.loads (and so loaddata) makes them."""
    return ijson.items(stream, "item", buf_size=READ_BUFFER, use_float=True)


def json_parse_error(exc, stream=None) -> BackupRejected:
    """The sentence for a fixture the JSON parser gave up on, with where it stopped."""
    position = None
    try:
        position = stream.tell() if stream is not None else None
    except (OSError, ValueError):
        pass
    if position:
        return BackupRejected(
            N_("The fixture is not valid JSON (near byte %(position)s of the uncompressed file): %(error)s. "
               "Was the file cut short?"),
            params={"position": f"{position:,}", "error": str(exc)},
        )
    return BackupRejected(N_("The fixture is not valid JSON: %(error)s. Was the file cut short?"), params={"error": str(exc)})
