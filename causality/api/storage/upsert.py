"""Dialect-aware ``INSERT ... ON CONFLICT`` helpers (SQLite and PostgreSQL share the syntax)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table


def _insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def insert_ignore(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows, skipping those whose primary key exists."""
    if rows:
        conn.execute(_insert(conn, table).on_conflict_do_nothing(), rows)


def link_identities(conn: Connection, links: list[dict[str, Any]]) -> None:
    """Link anonymous ids to user ids; the earliest link (by event time) wins.

    ``links`` holds ``mode, anonymous_id, user_id, ts``. User ids are never merged:
    a later link of the same anonymous id to another user is ignored.
    """
    if not links:
        return
    from causality.api.storage.tables import identities

    earliest: dict[tuple[str, str], dict[str, Any]] = {}
    for link in links:
        key = (link["mode"], link["anonymous_id"])
        if key not in earliest or link["ts"] < earliest[key]["ts"]:
            earliest[key] = link
    stmt = _insert(conn, identities)
    stmt = stmt.on_conflict_do_update(
        index_elements=[identities.c.mode, identities.c.anonymous_id],
        set_={"user_id": stmt.excluded.user_id, "linked_at": stmt.excluded.linked_at},
        where=stmt.excluded.linked_at < identities.c.linked_at,
    )
    conn.execute(
        stmt,
        [
            {
                "mode": v["mode"],
                "anonymous_id": v["anonymous_id"],
                "user_id": v["user_id"],
                "linked_at": v["ts"],
            }
            for v in earliest.values()
        ],
    )
