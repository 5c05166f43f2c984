"""Stored events -> the event frame of `Journeys.from_events`, and cache markers.

Identity links and click-id matches are resolved here, in SQL, so the library
sees one user per person: an anonymous id linked by an identify (or any event
carrying both ids) takes its user id, and an offline conversion matched by a
click id takes the user of that click. An unmatched offline conversion gets a
private anonymous id, so the library counts it as unattributed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, case, func, literal, or_, select

from causality.api.attribution_query import AttributionQuery
from causality.api.storage.tables import data_changes, events, identities

_CHANNEL_COLUMNS = {
    "channel_group": ("channel_group",),
    "source_medium": ("source", "medium"),
    "campaign": ("campaign",),
}


def change_marker(conn: Connection, mode: str) -> int:
    """The id of the mode's latest data change (0 when none).

    A result computed now stays valid until a later change touches its window. The
    changes of one mode commit in id order (`causality.api.storage.versions`), so no
    change with a smaller id can still appear.
    """
    return int(
        conn.scalar(
            select(func.coalesce(func.max(data_changes.c.id), 0)).where(data_changes.c.mode == mode)
        )
    )


def is_fresh(conn: Connection, mode: str, query: AttributionQuery, marker: int) -> bool:
    """Whether no change after ``marker`` can alter the result of ``query``."""
    lo = query.start_us - query.lookback_us
    stale = conn.execute(
        select(literal(1))
        .where(
            data_changes.c.id > marker,
            data_changes.c.mode == mode,
            or_(
                data_changes.c.deletion,
                data_changes.c.identify,
                and_(data_changes.c.max_ts >= lo, data_changes.c.min_ts < query.end_us),
            ),
        )
        .limit(1)
    ).first()
    return stale is None


def last_received(conn: Connection, mode: str) -> int | None:
    """When the mode last received an event (for ``data_freshness``)."""
    return conn.scalar(
        select(data_changes.c.received_at)
        .where(data_changes.c.mode == mode, ~data_changes.c.deletion)
        .order_by(data_changes.c.id.desc())
        .limit(1)
    )


def load_events(conn: Connection, mode: str, query: AttributionQuery) -> pd.DataFrame:
    """Touches and conversions that can matter for ``query``, as an event frame.

    Rows span ``[start - lookback, end)``. Conversions before ``start`` are read
    only to cut journeys (touches before a person's earlier conversion belong to
    that conversion) and then dropped, as are lookback touches of people without a
    conversion in the window.
    """
    e, i = events, identities
    user = func.coalesce(e.c.user_id, i.c.user_id, e.c.matched_user_id)
    anon = case(
        (
            func.coalesce(user, e.c.anonymous_id, e.c.matched_anonymous_id).is_(None),
            literal("unmatched:").concat(e.c.event_id),
        ),
        else_=func.coalesce(e.c.anonymous_id, e.c.matched_anonymous_id),
    )
    channel_cols = [e.c[name] for name in _CHANNEL_COLUMNS[query.group_by]]
    lo = query.start_us - query.lookback_us
    stmt = (
        select(
            e.c.event_type,
            e.c.ts,
            user.label("user_id"),
            anon.label("anonymous_id"),
            e.c.value,
            e.c.offline,
            *channel_cols,
        )
        .select_from(
            e.outerjoin(i, and_(i.c.mode == e.c.mode, i.c.anonymous_id == e.c.anonymous_id))
        )
        .where(
            e.c.mode == mode,
            e.c.ts >= lo,
            e.c.ts < query.end_us,
            or_(
                e.c.event_type == "touch",
                and_(e.c.event_type == "conversion", e.c.name == query.conversion),
            ),
        )
        .order_by(e.c.ts, e.c.pk)
    )
    result = conn.execute(stmt)
    # Plain driver tuples: handing SQLAlchemy rows to pandas costs a failed attribute
    # lookup per row, which dominated the time on a million events.
    frame = pd.DataFrame.from_records(result.cursor.fetchall(), columns=list(result.keys()))
    return _window_frame(frame, query)


def _window_frame(frame: pd.DataFrame, query: AttributionQuery) -> pd.DataFrame:
    if frame.empty:
        return frame
    ts = frame["ts"].to_numpy(dtype=np.int64)
    is_conv = (frame["event_type"] == "conversion").to_numpy()
    # A person: the user id, else the anonymous id (every row without a user has one).
    users, _ = pd.factorize(frame["user_id"], use_na_sentinel=True)
    anons, _ = pd.factorize(frame["anonymous_id"], use_na_sentinel=True)
    person = pd.Series(np.where(users >= 0, users, len(frame) + anons))
    before = ts < query.start_us
    pre = is_conv & before
    keep = ~pre
    if pre.any():
        cutoff = pd.Series(ts[pre]).groupby(person[pre].to_numpy()).max()
        prior = person.map(cutoff).to_numpy(dtype=np.float64, na_value=np.nan)
        keep &= ~(~is_conv & (ts <= prior))
    converters = pd.unique(person[is_conv & ~before])
    keep &= ~(~is_conv & before & ~person.isin(converters).to_numpy())
    frame = frame.loc[keep].reset_index(drop=True)
    out = pd.DataFrame(
        {
            "user_id": frame["user_id"],
            "anonymous_id": frame["anonymous_id"],
            "timestamp": pd.to_datetime(frame["ts"].to_numpy(dtype=np.int64), unit="us", utc=True),
            "event_type": frame["event_type"],
            "channel": _channel(frame, query.group_by),
            "value": frame["value"].astype(float).fillna(0.0),
            "offline": frame["offline"].astype(bool),
        }
    )
    return out


def _channel(frame: pd.DataFrame, group_by: str) -> pd.Series:
    if group_by == "channel_group":
        return frame["channel_group"].fillna("Unassigned")
    if group_by == "campaign":
        return frame["campaign"].fillna("(not set)")
    return frame["source"].fillna("(direct)") + " / " + frame["medium"].fillna("(none)")
