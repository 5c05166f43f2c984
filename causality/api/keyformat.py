"""API key format: ``cz_{live|test}_{43 base62 secret}{6 base62 CRC32}``.

The checksum lets the server (and secret scanners) reject a mistyped or made-up
key without touching the database, as GitHub's and Stripe's tokens do. The
server keeps only ``sha256(key)`` and a short display prefix.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SECRET_LENGTH = 43  # 43 base62 characters carry 256 bits
CHECKSUM_LENGTH = 6  # 62**6 > 2**32
MODES = ("live", "test")
KEY_PATTERN = re.compile(r"^cz_(live|test)_([0-9A-Za-z]{43})([0-9A-Za-z]{6})$")


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        digits.append(BASE62[rem])
    return "".join(reversed(digits))


def checksum(body: str) -> str:
    """The 6-character base62 CRC32 of ``body`` (``cz_<mode>_<secret>``).

    Examples
    --------
    >>> checksum("cz_test_" + "a" * 43)
    '2KXN55'
    >>> len(checksum("anything"))
    6
    """
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def generate_key(mode: str) -> str:
    """A new random key of ``mode`` (``live`` or ``test``), checksum included.

    Examples
    --------
    >>> key = generate_key("test")
    >>> key.startswith("cz_test_"), parse_key(key)
    (True, 'test')
    """
    if mode not in MODES:
        raise ValueError(f"mode must be 'live' or 'test'; got {mode!r}")
    secret = "".join(secrets.choice(BASE62) for _ in range(SECRET_LENGTH))
    body = f"cz_{mode}_{secret}"
    return body + checksum(body)


def parse_key(key: str) -> str | None:
    """The mode of a well-formed key with a valid checksum, else None (no I/O).

    Examples
    --------
    >>> key = generate_key("live")
    >>> parse_key(key)
    'live'
    >>> flipped = key[:10] + ("b" if key[10] != "b" else "c") + key[11:]
    >>> parse_key(flipped) is None
    True
    """
    match = KEY_PATTERN.match(key)
    if match is None:
        return None
    body = key[:-CHECKSUM_LENGTH]
    if not secrets.compare_digest(checksum(body), match.group(3)):
        return None
    return match.group(1)


def hash_key(key: str) -> str:
    """The stored form of a key: its SHA-256, hex."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def display_prefix(key: str) -> str:
    """The shown form of a key: mode and the first 8 secret characters.

    Examples
    --------
    >>> display_prefix("cz_live_abcd1234" + "x" * 41)
    'cz_live_abcd1234…'
    """
    return key[:16] + "…"
