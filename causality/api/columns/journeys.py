"""The journeys of one attribution query, cut straight from the in-memory event columns.

`window_frame` decodes the query's events to strings so that `Journeys.from_events`
can encode them again; over ten million events that round trip took ten seconds.
Here the same journeys are cut from the codes (`causality.journeys.coded`): persons
are resolved and ordered as `Journeys.from_events` resolves and orders them
(identity links of the window's rows, users by sorted id, then unlinked anonymous
ids), channels are named once per distinct code. ``tests/api/test_window_journeys.py``
checks the result against `Journeys.from_events` on random event logs.

Inputs that `Journeys.from_events` would reject or warn about (blank ids or
channels, negative values, an anonymous id linked to several users) are left to
it: `window_journeys` returns None and the caller takes the frame route, so errors
and warnings stay exactly the library's.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from causality.api.attribution_query import AttributionQuery
from causality.api.columns.facts import LabelFacts
from causality.api.columns.fetch import EventLabels
from causality.api.columns.labels import Labels
from causality.api.columns.store import Snapshot
from causality.api.columns.window import Cut, cut_window
from causality.journeys import Journeys
from causality.journeys.coded import journeys_from_coded

_GROUP_FIELDS = {
    "channel_group": ("channel_group",),
    "source_medium": ("source", "medium"),
    "campaign": ("campaign",),
}


@dataclasses.dataclass(frozen=True)
class WindowJourneys:
    """What attribution reads from one query's events.

    ``journeys`` are merged by path (`Journeys.by_path`), or None when the window
    holds no conversion; ``conversions`` counts conversion events in the window and
    ``unmatched`` the events of unmatched offline conversions.
    """

    journeys: Journeys | None
    conversions: int
    unmatched: int


class FactsCache:
    """`LabelFacts` per `Labels` dictionary, dropped with the dictionary (a store rebuild)."""

    def __init__(self) -> None:
        self._facts: weakref.WeakKeyDictionary[Labels, LabelFacts] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Number of dictionaries with facts kept."""
        return len(self._facts)

    def rank(self, labels: Labels, n: int) -> np.ndarray:
        """Sort rank of the labels (`LabelFacts.rank`)."""
        return self._of(labels).rank(labels, n)

    def blank(self, labels: Labels, n: int) -> np.ndarray:
        """Whether each label is blank (`LabelFacts.blank`)."""
        return self._of(labels).blank(labels, n)

    def unmatched(self, labels: Labels, n: int) -> np.ndarray:
        """Whether each label is an unmatched conversion's id (`LabelFacts.unmatched`)."""
        return self._of(labels).unmatched(labels, n)

    def _of(self, labels: Labels) -> LabelFacts:
        with self._lock:
            facts = self._facts.get(labels)
            if facts is None:
                facts = self._facts[labels] = LabelFacts()
            return facts


def window_journeys(
    snapshot: Snapshot, query: AttributionQuery, facts: FactsCache
) -> WindowJourneys | None:
    """The journeys of ``query``, by path, as ``Journeys.from_events(frame).by_path()`` gives.

    ``frame`` is `window_frame` of the same snapshot and query. None when the events
    need `Journeys.from_events` itself (it would raise or warn).
    """
    cut = cut_window(snapshot, query, ("value", *_GROUP_FIELDS[query.group_by]))
    conversions = int(cut.is_conv.sum())
    labels = snapshot.labels
    anon = cut.cols["anon"]
    has_anon = anon >= 0
    n_anons, n_users = snapshot.n_anons, snapshot.n_users
    users, anons = labels.users, labels.anons
    unmatched = int(facts.unmatched(anons, n_anons)[anon[has_anon]].sum())
    if conversions == 0:
        return WindowJourneys(None, 0, unmatched)
    has_user = cut.user >= 0
    if facts.blank(users, n_users)[cut.user[has_user]].any():
        return None
    if facts.blank(anons, n_anons)[anon[has_anon]].any():
        return None
    value = cut.cols["value"]
    value = np.where(np.isnan(value), 0.0, value)
    if not np.isfinite(value[cut.is_conv]).all() or (value[cut.is_conv] < 0).any():
        return None
    person = _persons(
        cut, has_user, has_anon, facts.rank(users, n_users), facts.rank(anons, n_anons)
    )
    if person is None:
        return None
    touched = _channels(cut, labels, query.group_by)
    if touched is None:
        return None
    channel, channels = touched
    journeys = journeys_from_coded(
        person,
        cut.cols["ts"] * 1000,
        cut.is_conv,
        channel,
        channels,
        value,
        lookback=pd.Timedelta(days=query.lookback_days),
    )
    grouped = journeys.by_path()
    # Models call `by_path()` again on what they are given. Grouping a grouped table
    # yields the same records in the same order (ids follow the path hashes, which it
    # is already sorted by), so hand it back rather than hashing every touch again.
    grouped.cached("by_path", lambda: grouped)
    return WindowJourneys(grouped, conversions, unmatched)


def _persons(
    cut: Cut,
    has_user: np.ndarray,
    has_anon: np.ndarray,
    user_rank: np.ndarray,
    anon_rank: np.ndarray,
) -> np.ndarray | None:
    """Person keys in `Journeys.from_events` order, or None on conflicting identity links.

    A row with both ids links its anonymous id to the user (the first link in time
    order wins; rows are in time order already); users sort by id, then anonymous ids
    that no row links, by id.
    """
    anon, user = cut.cols["anon"], cut.user
    links = np.flatnonzero(has_user & has_anon)
    owner = np.full(len(anon_rank), -1, dtype=np.int32)
    if len(links):
        width = int(user.max()) + 1
        pairs = np.unique(anon[links].astype(np.int64) * width + user[links])
        anons, users = pairs // width, pairs % width
        if (anons[1:] == anons[:-1]).any():
            return None  # linked to several users: from_events warns, and decides by time
        owner[anons] = user_rank[users]
    # Below n_users + n_anons, like the codes: int32 halves the bytes the sort moves.
    person = np.empty(len(anon), dtype=np.int32)
    person[has_user] = user_rank[user[has_user]]
    rows = np.flatnonzero(~has_user)  # every such row has an anonymous id
    if len(rows):
        linked = owner[anon[rows]]
        person[rows] = np.where(linked >= 0, linked, len(user_rank) + anon_rank[anon[rows]])
    return person


def _channels(cut: Cut, labels: EventLabels, group_by: str) -> tuple[np.ndarray, list[str]] | None:
    """Per row, the index of its channel among the sorted names of the touches' channels.

    Names are made once per distinct code; None when a touch's channel is blank.
    """
    cols = cut.cols
    if group_by == "source_medium":
        width = int(cols["medium"].max(initial=-1)) + 2
        key = (cols["source"].astype(np.int64) + 1) * width + cols["medium"] + 1
    else:
        key = cols[group_by] + 1
    touch = ~cut.is_conv
    distinct, inverse = _distinct(key[touch])
    if group_by == "source_medium":
        source = _filled(labels.source, distinct // width - 1, "(direct)")
        medium = _filled(labels.medium, distinct % width - 1, "(none)")
        names = pc.binary_join_element_wise(source, medium, " / ").to_pylist()
    else:
        missing = "Unassigned" if group_by == "channel_group" else "(not set)"
        names = _filled(getattr(labels, group_by), distinct - 1, missing).to_pylist()
    if any(name.strip() == "" for name in names):
        return None
    # Two codes may name one channel (a stored "Unassigned" and a missing group).
    sorted_names = sorted(set(names))
    index = {name: i for i, name in enumerate(sorted_names)}
    rank = np.array([index[name] for name in names], dtype=np.int32)
    channel = np.full(len(cols), -1, dtype=np.int32)
    channel[touch] = rank[inverse]
    return channel, sorted_names


def _distinct(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` for small non-negative keys, without sorting."""
    if len(keys) == 0 or int(keys.max()) > 4 * len(keys):
        distinct, inverse = np.unique(keys, return_inverse=True)
        return distinct, inverse.ravel()
    present = np.bincount(keys) > 0
    distinct = np.flatnonzero(present)
    index = np.cumsum(present) - 1
    return distinct, index[keys]


def _filled(labels: Labels, codes: np.ndarray, missing: str) -> pa.Array:
    return pc.fill_null(labels.decode(codes.astype(np.int32)), missing)
