"""The HMAC chain. Each row's HMAC-SHA256 covers the previous row's HMAC and
the row's own canonical content, keyed with a secret that is not in the
control database: DBKEEPER["AUDIT_KEY"], or the key file ``audit.key`` in the
data folder (created 0600 on first use). Someone who can write the control
database can change rows but cannot compute their HMACs again.

Cutting off the newest rows leaves a valid chain: anchors (the latest row's
number and HMAC, written to the server log by the service) reveal it."""

import datetime
import hashlib
import hmac as hmac_lib
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from .. import conf, keyfiles
from ..errors import DbkeeperError
from ..messages import Message, N_

KEY_FILE = "audit.key"
# What the service writes to the log (logger dbkeeper.audit.anchor) and verify reads back.
ANCHOR_FORMAT = "audit anchor %d %s"
ANCHOR_PATTERN = re.compile(r"audit anchor (\d+) ([0-9a-f]{64})")
# The fields an HMAC covers, in this order (all but the HMAC itself).
FIELDS = ["number", "at", "action", "user_id", "username", "method", "token_prefix", "address", "user_agent",
          "target", "database", "backup", "operation", "outcome", "sentence", "details", "parent"]


def key_path() -> Path:
    return conf.data_dir() / KEY_FILE


def key() -> bytes:
    configured = conf.get("AUDIT_KEY")
    if configured:
        return configured.encode() if isinstance(configured, str) else bytes(configured)
    existing = keyfiles.read_key(key_path())
    if existing:
        return existing
    return keyfiles.create_key(key_path(), lambda: secrets.token_hex(32).encode())


def _value(name, value):
    if name == "at":
        return value.astimezone(datetime.timezone.utc).isoformat(timespec="microseconds")
    return value


def canonical(entry) -> bytes:
    """The row's content as one byte string: the same before it is written and
    after it is read back, in SQLite or PostgreSQL (keys sorted, UTC times)."""
    content = {name: _value(name, getattr(entry, name)) for name in FIELDS}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def compute(previous_hmac: str, entry, secret: bytes | None = None) -> str:
    message = (previous_hmac or "").encode("ascii") + b"\n" + canonical(entry)
    return hmac_lib.new(secret or key(), message, hashlib.sha256).hexdigest()


# -- verification ---------------------------------------------------------------

@dataclass
class Anchor:
    number: int
    hmac: str
    source: str = ""


@dataclass
class Report:
    rows: int = 0
    last_number: int = 0
    problems: list = field(default_factory=list)  # Messages, the first one is where the chain breaks

    @property
    def ok(self):
        return not self.problems


def parse_anchor(text: str, source="") -> Anchor:
    number, sep, digest = str(text).strip().partition(":")
    if not sep or not number.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest.lower()):
        raise DbkeeperError(N_("An anchor is NUMBER:HMAC (the row number and its 64 hexadecimal digits), "
                               "not %(text)s."), code="bad_anchor", params={"text": repr(text)})
    return Anchor(int(number), digest.lower(), source)


def anchors_in_logs(folder: Path) -> list[Anchor]:
    """Anchors written to the server logs in ``folder`` (rotated files included)."""
    found = []
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.log*")):
        try:
            with path.open(errors="replace") as fh:
                for line in fh:
                    match = ANCHOR_PATTERN.search(line)
                    if match:
                        found.append(Anchor(int(match.group(1)), match.group(2), path.name))
        except OSError:
            continue
    return found


def verify(entries, anchors=(), secret: bytes | None = None) -> Report:
    """Walk the rows in number order and report the first place the chain
    breaks (a gap in the numbers, a row whose HMAC does not match: edited,
    inserted, or following a deleted row), then whether each anchor still holds."""
    secret = secret or key()
    report = Report()
    previous, expected, by_number = "", 1, {}
    for entry in entries:
        report.rows += 1
        report.last_number = entry.number
        by_number[entry.number] = entry.hmac
        if report.problems:
            continue
        if entry.number != expected:
            if entry.number == expected + 1:
                report.problems.append(Message(N_("Row %(missing)s is missing: it was deleted (the next row is "
                                                  "%(number)s)."), {"missing": expected, "number": entry.number}))
            elif entry.number > expected:
                report.problems.append(Message(N_("Rows %(first)s to %(last)s are missing: they were deleted "
                                                  "(the next row is %(number)s)."),
                                               {"first": expected, "last": entry.number - 1, "number": entry.number}))
            else:
                report.problems.append(Message(N_("Row %(number)s is out of order: it was inserted."),
                                               {"number": entry.number}))
            continue
        if not hmac_lib.compare_digest(compute(previous, entry, secret), entry.hmac or ""):
            report.problems.append(Message(N_("Row %(number)s does not match its HMAC: it was edited or "
                                              "inserted, or the row before it was deleted."),
                                           {"number": entry.number}))
            continue
        previous, expected = entry.hmac, entry.number + 1
    for anchor in anchors:
        stored = by_number.get(anchor.number)
        if stored is None and anchor.number > report.last_number:
            report.problems.append(Message(N_("The log was cut off: row %(number)s (anchored in %(source)s) and "
                                              "any after it are gone; the last row is %(last)s."),
                                           {"number": anchor.number, "source": anchor.source or "-",
                                            "last": report.last_number}))
        elif stored is None or stored != anchor.hmac:
            report.problems.append(Message(N_("Row %(number)s differs from its anchor in %(source)s: the log "
                                              "was rewritten from there."),
                                           {"number": anchor.number, "source": anchor.source or "-"}))
    return report
