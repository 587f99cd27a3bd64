"""What every credential dbkeeper hands out (API tokens, operation tokens) has
in common: it is stored only as the SHA-256 hash of the raw value."""

import hashlib


def hash_token(raw: str) -> str:
    """The hex SHA-256 of ``raw``: what the database keeps instead of the token."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()
