"""API keys in the database: create, find by hash, revoke, rotate.

Only ``sha256(key)`` and a display prefix are stored; the secret is returned
once, at creation. No FastAPI here: the ``causality keys create`` command uses
this module directly.
"""

from __future__ import annotations

import dataclasses
import hmac
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, insert, select, update

from causality.api.ids import new_id
from causality.api.keyformat import MODES, display_prefix, generate_key, hash_key
from causality.api.storage.tables import api_keys
from causality.api.timeutil import format_micros
from causality.errors import ConfigurationError

SCOPES = ("events:write", "attribution:read", "reports:read", "reports:write", "keys:manage")
_DAY_US = 86_400 * 1_000_000


@dataclasses.dataclass(frozen=True)
class KeyRecord:
    """A stored API key, without its secret."""

    id: str
    name: str
    mode: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: int
    last_used_at: int | None = None
    expires_at: int | None = None
    revoked_at: int | None = None
    secret_hash: str = dataclasses.field(default="", repr=False)

    def age_days(self, now_us: int) -> int:
        """Whole days since the key was created."""
        return max(0, (now_us - self.created_at) // _DAY_US)

    def to_json(self, now_us: int) -> dict[str, Any]:
        """The public form of the key (never the secret or its hash)."""
        return {
            "object": "api_key",
            "id": self.id,
            "name": self.name,
            "mode": self.mode,
            "prefix": self.prefix,
            "scopes": list(self.scopes),
            "created_at": format_micros(self.created_at),
            "last_used_at": format_micros(self.last_used_at),
            "expires_at": format_micros(self.expires_at),
            "revoked_at": format_micros(self.revoked_at),
            "age_days": self.age_days(now_us),
        }


def parse_scopes(scopes: Iterable[str] | str) -> tuple[str, ...]:
    """Validated scopes in canonical order; ``"all"`` means every scope.

    Examples
    --------
    >>> parse_scopes("events:write,attribution:read")
    ('events:write', 'attribution:read')
    >>> len(parse_scopes("all"))
    5
    """
    if isinstance(scopes, str):
        scopes = [s for s in scopes.replace(" ", ",").split(",") if s]
    wanted = set(scopes)
    if "all" in wanted:
        return SCOPES
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise ConfigurationError(f"unknown scope(s) {unknown}; valid scopes: {', '.join(SCOPES)}")
    if not wanted:
        raise ConfigurationError(f"a key needs at least one scope; valid: {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in wanted)


def _record(row: Any) -> KeyRecord:
    return KeyRecord(
        id=row.id,
        name=row.name,
        mode=row.mode,
        prefix=row.prefix,
        scopes=tuple(row.scopes.split()),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        secret_hash=row.secret_hash,
    )


def create_key(
    conn: Connection,
    *,
    name: str,
    mode: str,
    scopes: Iterable[str] | str,
    now_us: int,
    expires_at: int | None = None,
) -> tuple[KeyRecord, str]:
    """Store a new key; returns its record and the secret (shown once)."""
    if mode not in MODES:
        raise ConfigurationError(f"mode must be 'live' or 'test'; got {mode!r}")
    name = str(name).strip()
    if not 1 <= len(name) <= 255:
        raise ConfigurationError("a key name needs 1 to 255 characters")
    secret = generate_key(mode)
    record = KeyRecord(
        id=new_id("key"),
        name=name,
        mode=mode,
        prefix=display_prefix(secret),
        scopes=parse_scopes(scopes),
        created_at=now_us,
        expires_at=expires_at,
        secret_hash=hash_key(secret),
    )
    values = dataclasses.asdict(record)
    values["scopes"] = " ".join(record.scopes)
    conn.execute(insert(api_keys).values(**values))
    return record, secret


def find_key(conn: Connection, secret: str) -> KeyRecord | None:
    """The record of a presented key, or None; hashes compared in constant time."""
    digest = hash_key(secret)
    row = conn.execute(select(api_keys).where(api_keys.c.secret_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.secret_hash, digest):
        return None
    return _record(row)


class KeyCache:
    """Recently looked-up key records by secret hash, so a busy key costs no query.

    A record is reused for ``ttl_s`` seconds after it was read. Keys changed through
    this process (revoked, rotated) are dropped at once with `clear`; a change made
    by another process (another server, the command line) is seen within ``ttl_s``.
    Unknown keys are never cached: a new key works on its first request.

    Parameters
    ----------
    ttl_s : float
        Seconds a record is trusted; 0 reads every request's key from the database.
    clock : callable
        Monotonic seconds (tests inject one).
    """

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._records: dict[str, tuple[float, KeyRecord]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, digest: str) -> KeyRecord | None:
        """The record of the key hashing to ``digest``, if read within ``ttl_s``."""
        if self.ttl_s <= 0:
            return None
        with self._lock:
            entry = self._records.get(digest)
        if entry is None or self._clock() - entry[0] >= self.ttl_s:
            return None
        return entry[1]

    def ticket(self) -> tuple[int, float]:
        """Taken before reading a record from the database, then given to `put`."""
        with self._lock:
            return self._generation, self._clock()

    def put(self, record: KeyRecord, ticket: tuple[int, float]) -> None:
        """Remember ``record``, read after ``ticket`` was taken.

        Dropped when `clear` ran in between: the read may predate that change.
        """
        if self.ttl_s <= 0:
            return
        generation, read_at = ticket
        with self._lock:
            if generation != self._generation:
                return
            if len(self._records) >= _KEY_CACHE_SIZE:
                self._records.clear()  # a flood of distinct keys: start over
            self._records[record.secret_hash] = (read_at, record)

    def clear(self) -> None:
        """Forget every record (after a key changed in this process)."""
        with self._lock:
            self._generation += 1
            self._records.clear()


_KEY_CACHE_SIZE = 10_000


def get_key(conn: Connection, key_id: str, mode: str) -> KeyRecord | None:
    """The key ``key_id`` of ``mode``, or None."""
    row = conn.execute(
        select(api_keys).where(api_keys.c.id == key_id, api_keys.c.mode == mode)
    ).first()
    return None if row is None else _record(row)


def list_keys(
    conn: Connection, mode: str, *, limit: int, after: str | None, before: str | None
) -> tuple[list[KeyRecord], bool]:
    """Keys of ``mode``, newest first, one page; returns (records, has_more)."""
    query = select(api_keys).where(api_keys.c.mode == mode)
    if before is not None:
        query = query.where(api_keys.c.id > before).order_by(api_keys.c.id.asc())
    else:
        if after is not None:
            query = query.where(api_keys.c.id < after)
        query = query.order_by(api_keys.c.id.desc())
    rows = conn.execute(query.limit(limit + 1)).all()
    has_more = len(rows) > limit
    records = [_record(r) for r in rows[:limit]]
    if before is not None:
        records.reverse()
    return records, has_more


def revoke_key(conn: Connection, record: KeyRecord, now_us: int) -> KeyRecord:
    """Revoke at once; an already revoked key keeps its first revocation time."""
    if record.revoked_at is None:
        conn.execute(update(api_keys).where(api_keys.c.id == record.id).values(revoked_at=now_us))
        record = dataclasses.replace(record, revoked_at=now_us)
    return record


def rotate_key(
    conn: Connection, record: KeyRecord, *, now_us: int, grace_s: int
) -> tuple[KeyRecord, str]:
    """A new key with the same name, mode and scopes; the old one expires after ``grace_s``."""
    new, secret = create_key(
        conn,
        name=record.name,
        mode=record.mode,
        scopes=record.scopes,
        now_us=now_us,
        expires_at=record.expires_at,
    )
    old_expiry = now_us + grace_s * 1_000_000
    if record.expires_at is not None:
        old_expiry = min(old_expiry, record.expires_at)
    conn.execute(
        update(api_keys)
        .where(api_keys.c.id == record.id)
        .values(expires_at=old_expiry, rotated_to=new.id)
    )
    return new, secret


def mark_used(conn: Connection, key_id: str, now_us: int) -> None:
    """Record the key's last use."""
    conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now_us))
