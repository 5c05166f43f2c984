"""Identifiers: UUIDv7 for events and requests, prefixed time-ordered object ids."""

from __future__ import annotations

import os
import time
import uuid


def uuid7(ms: int | None = None) -> uuid.UUID:
    """A version-7 UUID (RFC 9562): 48-bit Unix milliseconds, then random bits.

    Time-ordered, so ids issued later sort later (to the millisecond), which keeps
    B-tree inserts local and makes ids usable as pagination cursors.

    Examples
    --------
    >>> u = uuid7(ms=0x0123456789AB)
    >>> u.version, str(u)[:13]
    (7, '01234567-89ab')
    """
    if ms is None:
        ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 62) & 0xFFF  # 12 random bits (rand_a)
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # 62 random bits (rand_b)
    return uuid.UUID(int=value)


def new_id(prefix: str) -> str:
    """An object id such as ``rep_0190c2...``: a prefix and a UUIDv7 in hex.

    Examples
    --------
    >>> new_id("key").startswith("key_") and len(new_id("key")) == 36
    True
    """
    return f"{prefix}_{uuid7().hex}"
