"""Timestamps: RFC 3339 parsing that insists on an offset, and UTC microseconds.

The database stores every time as integer microseconds since the Unix epoch, UTC
(GA4's precision), which sorts and compares the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_rfc3339(text: str) -> datetime | None:
    """An aware datetime from RFC 3339 text with ``Z`` or ``±hh:mm``; None otherwise.

    Naive times (no offset) and dates without a time return None: the caller
    reports ``invalid_timestamp``.

    Examples
    --------
    >>> parse_rfc3339("2026-11-28T09:59:58.120+01:00").isoformat()
    '2026-11-28T09:59:58.120000+01:00'
    >>> parse_rfc3339("2026-11-28T09:59:58") is None
    True
    """
    if not isinstance(text, str) or len(text) < 20 or len(text) > 40 or "T" not in text.upper():
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        return None
    return value


def to_micros(value: datetime) -> int:
    """Microseconds since the epoch (UTC) of an aware datetime.

    Examples
    --------
    >>> to_micros(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC))
    1000000
    """
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """The aware UTC datetime of epoch microseconds."""
    seconds, rest = divmod(int(micros), 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest)


def format_micros(micros: int | None) -> str | None:
    """RFC 3339 UTC text with ``Z`` and microseconds, or None.

    Examples
    --------
    >>> format_micros(1_000_000)
    '1970-01-01T00:00:01.000000Z'
    """
    if micros is None:
        return None
    return from_micros(micros).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_time(value: datetime | None) -> str | None:
    """RFC 3339 UTC text of an aware datetime, or None."""
    return None if value is None else format_micros(to_micros(value))
