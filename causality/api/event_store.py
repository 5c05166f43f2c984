"""Store a validated batch: deduplicate, match offline conversions, insert, in one transaction.

Runs inside the caller's write transaction, so the dedup checks and the inserts
commit together (R-D-4): a failed insert leaves nothing behind, and a 2xx is only
ever sent for committed events.

Two paths give the same item statuses. The common one (no ``atomic``, no offline
conversion) inserts with ``ON CONFLICT DO NOTHING RETURNING event_id``: the unique
indexes deduplicate in the same statement, and only the rows that did not go in are
looked up to tell a repeated ``event_id`` from a repeated ``order_id``. The checked
path looks duplicates up first, because it must decide before writing (atomic
batches, ``validate_only``) or match offline conversions against earlier events.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, tuple_

from causality.api.ingest import Batch, Item
from causality.api.storage.inserts import insert_new_rows, insert_rows
from causality.api.storage.tables import click_ids, events, identities
from causality.api.storage.upsert import insert_ignore, link_identities


def store_batch(
    conn: Connection, mode: str, batch: Batch, *, atomic: bool, validate_only: bool
) -> bool:
    """Deduplicate and insert the valid items of ``batch``; returns whether it wrote.

    Sets every item's status. Nothing is written when ``validate_only``, or when
    ``atomic`` and an item is rejected (then every valid item is reported ``valid``
    but not stored). Runs inside the caller's write transaction.
    """
    candidates = batch.valid
    if validate_only or atomic or any(i.row and i.row["offline"] for i in candidates):
        return _store_checked(conn, mode, batch, atomic=atomic, validate_only=validate_only)
    return _store_new(conn, mode, candidates, batch.received_at)


def _store_new(conn: Connection, mode: str, items: list[Item], received_at: int) -> bool:
    """Insert, letting the unique indexes find duplicates (no lookup before writing)."""
    fresh: dict[str, Item] = {}
    for item in items:
        assert item.event_id is not None and item.row is not None
        if item.event_id in fresh:  # a repeat inside the batch: the first copy counts
            item.status = "duplicate"
        else:
            item.row["mode"] = mode
            fresh[item.event_id] = item
    if not fresh:
        return False
    inserted = insert_new_rows(conn, [i.row for i in fresh.values() if i.row is not None])
    missed = [item for event_id, item in fresh.items() if event_id not in inserted]
    if missed:
        stored = _stored_ids(conn, mode, [i.event_id for i in missed if i.event_id])
        for item in missed:
            if item.event_id in stored:
                item.status = "duplicate"
            else:  # the only other unique index: (mode, name, order_id)
                _reject_order(item)
    written = [item for event_id, item in fresh.items() if event_id in inserted]
    for item in written:
        item.status = "accepted"
    if not written:
        return False
    _after_insert(conn, mode, written, received_at)
    return True


def _store_checked(
    conn: Connection, mode: str, batch: Batch, *, atomic: bool, validate_only: bool
) -> bool:
    """Look duplicates and order ids up first, then insert what is new."""
    candidates = batch.valid
    _mark_duplicates(conn, mode, candidates)
    _check_orders(conn, mode, [i for i in candidates if i.status == "pending"])
    fresh = [i for i in candidates if i.status == "pending"]
    if validate_only or (atomic and any(i.status == "rejected" for i in batch.items)):
        for item in fresh:
            item.status = "valid"
        return False
    if not fresh:
        return False
    _match_offline(conn, mode, fresh)
    for item in fresh:
        assert item.row is not None
        item.row["mode"] = mode
    insert_rows(conn, [item.row for item in fresh if item.row is not None])
    for item in fresh:
        item.status = "accepted"
    _after_insert(conn, mode, fresh, batch.received_at)
    return True


def _after_insert(conn: Connection, mode: str, items: list[Item], received_at: int) -> None:
    """Identity links and click ids of newly stored items, and the change record."""
    rows = [item.row for item in items if item.row is not None]
    link_identities(
        conn,
        [
            {
                "mode": mode,
                "anonymous_id": r["anonymous_id"],
                "user_id": r["user_id"],
                "ts": r["ts"],
            }
            for r in rows
            if r["user_id"] and r["anonymous_id"]
        ],
    )
    insert_ignore(
        conn,
        click_ids,
        [
            {
                "mode": mode,
                "kind": kind,
                "click_id": click,
                "user_id": item.row["user_id"],
                "anonymous_id": item.row["anonymous_id"],
                "ts": item.row["ts"],
            }
            for item in items
            if item.row is not None and item.row["event_type"] == "touch"
            for kind, click in item.clicks.items()
        ],
    )
    record_change(conn, mode, received_at, rows=rows)


def _stored_ids(conn: Connection, mode: str, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    return set(
        conn.scalars(
            select(events.c.event_id).where(events.c.mode == mode, events.c.event_id.in_(ids))
        )
    )


def _reject_order(item: Item) -> None:
    assert item.row is not None
    name, order = item.row["name"], item.row["order_id"]
    if order is None:
        raise RuntimeError(f"event {item.event_id!r} was neither stored nor a duplicate")
    item.reject(
        f"/events/{item.index}/conversion/order_id",
        "duplicate_order_id",
        f"a {name!r} conversion with order_id {order!r} is already stored; one "
        "conversion per order",
    )


def record_change(
    conn: Connection,
    mode: str,
    received_us: int,
    *,
    rows: list[dict[str, Any]] | None = None,
    deletion: bool = False,
) -> None:
    """Log a change of the mode's data; cached attribution over its time span goes stale."""
    ts = [r["ts"] for r in rows or ()]
    identify = any(r["user_id"] and r["anonymous_id"] for r in rows or ())
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    # Plain driver SQL: this runs once per stored batch, and building the statement with
    # SQLAlchemy's insert().values() cost more than the insert itself.
    conn.exec_driver_sql(
        _CHANGE_INSERT.format(marker=marker),
        (mode, min(ts, default=None), max(ts, default=None), identify, deletion, received_us),
    )


_CHANGE_INSERT = (
    "INSERT INTO data_changes (mode, min_ts, max_ts, identify, deletion, received_at) "
    "VALUES ({marker}, {marker}, {marker}, {marker}, {marker}, {marker})"
)


def _mark_duplicates(conn: Connection, mode: str, items: list[Item]) -> None:
    ids = [i.event_id for i in items]
    stored = (
        set(
            conn.scalars(
                select(events.c.event_id).where(events.c.mode == mode, events.c.event_id.in_(ids))
            )
        )
        if ids
        else set()
    )
    seen: set[str | None] = set()
    for item in items:
        if item.event_id in stored or item.event_id in seen:
            item.status = "duplicate"
        else:
            item.status = "pending"
        seen.add(item.event_id)


def _check_orders(conn: Connection, mode: str, items: list[Item]) -> None:
    keyed = [
        i for i in items if i.row and i.row["event_type"] == "conversion" and i.row["order_id"]
    ]
    if not keyed:
        return
    pairs = {(i.row["name"], i.row["order_id"]) for i in keyed if i.row}
    stored = {
        tuple(r)
        for r in conn.execute(
            select(events.c.name, events.c.order_id).where(
                events.c.mode == mode,
                events.c.order_id.in_({p[1] for p in pairs}),
            )
        )
    }
    seen: set[tuple[str, str]] = set()
    for item in keyed:
        assert item.row is not None
        pair = (item.row["name"], item.row["order_id"])
        if pair in stored or pair in seen:
            _reject_order(item)
        seen.add(pair)


def _match_offline(conn: Connection, mode: str, items: list[Item]) -> None:
    """Match offline conversions to journeys by user id, anonymous id or click id."""
    offline = [i for i in items if i.row and i.row["offline"]]
    if not offline:
        return
    known_users, known_anon = _known_ids(conn, mode, items, offline)
    wanted = {(k, v) for i in offline for k, v in i.clicks.items()}
    clicks: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    if wanted:
        for r in conn.execute(
            select(
                click_ids.c.kind,
                click_ids.c.click_id,
                click_ids.c.user_id,
                click_ids.c.anonymous_id,
            )
            .where(click_ids.c.mode == mode)
            .where(tuple_(click_ids.c.kind, click_ids.c.click_id).in_(sorted(wanted)))
        ):
            clicks[(r.kind, r.click_id)] = (r.user_id, r.anonymous_id)
    for item in items:  # touches earlier in this batch count as known clicks too
        if item.row and item.row["event_type"] == "touch":
            for kind, click in item.clicks.items():
                clicks.setdefault((kind, click), (item.row["user_id"], item.row["anonymous_id"]))
    for item in offline:
        row = item.row
        assert row is not None
        if (row["user_id"] and row["user_id"] in known_users) or (
            row["anonymous_id"] and row["anonymous_id"] in known_anon
        ):
            row["match_status"] = "matched"
            continue
        hit = next((clicks[(k, v)] for k, v in item.clicks.items() if (k, v) in clicks), None)
        if hit is not None:
            row["match_status"] = "matched"
            row["matched_user_id"], row["matched_anonymous_id"] = hit
        else:
            row["match_status"] = "unmatched"


def _known_ids(
    conn: Connection, mode: str, items: list[Item], offline: list[Item]
) -> tuple[set[str], set[str]]:
    users = {i.row["user_id"] for i in offline if i.row and i.row["user_id"]}
    anon = {i.row["anonymous_id"] for i in offline if i.row and i.row["anonymous_id"]}
    known_users: set[str] = set()
    known_anon: set[str] = set()
    if users:
        known_users |= set(
            conn.scalars(
                select(events.c.user_id).where(
                    events.c.mode == mode,
                    events.c.user_id.in_(users),
                    events.c.event_type == "touch",
                )
            )
        )
        known_users |= set(
            conn.scalars(
                select(identities.c.user_id).where(
                    identities.c.mode == mode, identities.c.user_id.in_(users)
                )
            )
        )
    if anon:
        known_anon |= set(
            conn.scalars(
                select(events.c.anonymous_id).where(
                    events.c.mode == mode,
                    events.c.anonymous_id.in_(anon),
                    events.c.event_type == "touch",
                )
            )
        )
    for item in items:
        if item.row and item.row["event_type"] == "touch":
            known_users.add(item.row["user_id"])
            known_anon.add(item.row["anonymous_id"])
    return known_users, known_anon
