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
import functools
import threading
import weakref
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from causality.api.attribution_query import AttributionQuery
from causality.api.columns.facts import LabelFacts
from causality.api.columns.fetch import EventLabels
from causality.api.columns.labels import Labels
from causality.api.columns.store import Snapshot
from causality.api.columns.window import Cut, cut_window
from causality.journeys import Journeys

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


#: Channel keys below this are looked up in a table, larger ones by binary search.
_TABLE_KEYS = 1 << 22


@dataclasses.dataclass(frozen=True)
class ChannelCodes:
    """Rows' channels as indices into the window's sorted channel names, made on demand.

    Updating a window's path table reads the channels of a few persons' rows only, so
    they are not made for every row up front (ten million rows: a pass and arrays that
    cost more than the few rows need). ``keys(rows)`` gives the rows' grouping keys;
    ``distinct`` holds the touches' distinct keys, sorted, ``index`` their channels.
    """

    keys: Callable[[np.ndarray | slice], np.ndarray]
    distinct: np.ndarray
    index: np.ndarray
    is_conv: np.ndarray

    def at(self, rows: np.ndarray | slice) -> np.ndarray:
        """Channel index of ``rows``: a touch's channel, -1 for a conversion."""
        is_conv = self.is_conv[rows]
        if len(self.distinct) == 0:  # no touches
            return np.full(len(is_conv), -1, dtype=np.int32)
        keys = self.keys(rows)
        # A conversion's key may be no touch's: clipped into range, then masked.
        top = int(self.distinct[-1])
        if top < _TABLE_KEYS:  # small keys: a lookup table
            table = np.full(top + 2, -1, dtype=np.int32)
            table[self.distinct] = self.index
            found = table[np.minimum(keys, top + 1)]
        else:
            place = np.minimum(np.searchsorted(self.distinct, keys), len(self.distinct) - 1)
            found = self.index[place]
        return np.where(is_conv, -1, found).astype(np.int32, copy=False)


@dataclasses.dataclass(frozen=True)
class WindowInput:
    """One query window's touches and conversions, coded as `journeys_from_coded` reads them.

    Rows are in time order. ``pid`` names each row's person stably across snapshots
    (int32): a user code, or ``-1 - code`` of an anonymous id. ``owner`` maps an
    anonymous id to the user its rows join through a row of the window holding both
    ids (-1: none). ``ts`` is in microseconds since the epoch; ``stored_value`` is
    NaN where an event has no value. What only a cut from scratch reads is made when
    asked for: `person` (every row's person in `Journeys.from_events` order) and the
    rows' channels (``codes``); an update reads a few persons' rows only.
    """

    pid: np.ndarray
    ts: np.ndarray
    is_conv: np.ndarray
    codes: ChannelCodes
    channels: tuple[str, ...]
    stored_value: np.ndarray
    owner: np.ndarray
    user_rank: np.ndarray
    anon_rank: np.ndarray
    conversions: int
    unmatched: int

    @functools.cached_property
    def person(self) -> np.ndarray:
        """Every row's person, ordered as `Journeys.from_events` orders them (`order_key`).

        In int32 when the persons fit: it halves the bytes the person sort moves.
        """
        n_persons = len(self.user_rank) + len(self.anon_rank)
        dtype = np.int32 if n_persons <= np.iinfo(np.int32).max else np.int64
        return self.order_key(self.pid, dtype=dtype)

    def order_key(self, pid: np.ndarray, dtype: type = np.int64) -> np.ndarray:
        """The order key of persons named by ``pid``, ranked by this window's labels.

        Users by id, then anonymous ids no row links, by id.
        """
        pid = np.asarray(pid)
        if len(pid) == 0 or pid.min() >= 0:  # users only: one gather
            return self.user_rank[pid].astype(dtype, copy=False)
        key = np.empty(len(pid), dtype=dtype)
        is_user = pid >= 0
        key[is_user] = self.user_rank[pid[is_user]]
        key[~is_user] = len(self.user_rank) + self.anon_rank[-1 - pid[~is_user]]
        return key


def window_journeys(
    snapshot: Snapshot, query: AttributionQuery, facts: FactsCache
) -> WindowJourneys | None:
    """The journeys of ``query``, by path, as ``Journeys.from_events(frame).by_path()`` gives.

    ``frame`` is `window_frame` of the same snapshot and query. None when the events
    need `Journeys.from_events` itself (it would raise or warn).
    """
    from causality.api.columns.paths import WindowPaths

    source = window_input(snapshot, query, facts)
    if not isinstance(source, WindowInput):
        return source
    return WindowPaths.build(source, snapshot.identity, query.lookback_days).result


def window_input(
    snapshot: Snapshot, query: AttributionQuery, facts: FactsCache
) -> WindowInput | WindowJourneys | None:
    """The coded rows of ``query``'s window, ready to cut into journeys.

    A `WindowJourneys` without journeys when the window holds no conversion; None when
    the events need `Journeys.from_events` itself (it would raise or warn).
    """
    cut = cut_window(snapshot, query, ("value", *_GROUP_FIELDS[query.group_by]))
    conversions = int(cut.is_conv.sum())
    labels = snapshot.labels
    anon = cut.cols["anon"]
    has_anon = anon >= 0
    n_anons, n_users = snapshot.n_anons, snapshot.n_users
    users, anons = labels.users, labels.anons
    unmatched_ids = facts.unmatched(anons, n_anons)
    # Per row only when some id is of the kind at all (rarely): a gather over every row
    # is most of the cost of these checks.
    unmatched = int(unmatched_ids[anon[has_anon]].sum()) if unmatched_ids.any() else 0
    if conversions == 0:
        return WindowJourneys(None, 0, unmatched)
    has_user = cut.user >= 0
    blank_users, blank_anons = facts.blank(users, n_users), facts.blank(anons, n_anons)
    if blank_users.any() and blank_users[cut.user[has_user]].any():
        return None
    if blank_anons.any() and blank_anons[anon[has_anon]].any():
        return None
    value = cut.cols["value"]
    converted = value[cut.is_conv]  # only conversions' values are checked (NaN: none)
    converted = converted[~np.isnan(converted)]
    if not np.isfinite(converted).all() or (converted < 0).any():
        return None
    user_rank, anon_rank = facts.rank(users, n_users), facts.rank(anons, n_anons)
    persons = _persons(cut, has_user, has_anon, len(anon_rank))
    if persons is None:
        return None
    touched = _channels(cut, labels, query.group_by)
    if touched is None:
        return None
    codes, channels = touched
    pid, owner = persons
    return WindowInput(
        pid=pid,
        ts=cut.cols["ts"],
        is_conv=cut.is_conv,
        codes=codes,
        channels=tuple(channels),
        stored_value=value,
        owner=owner,
        user_rank=user_rank,
        anon_rank=anon_rank,
        conversions=conversions,
        unmatched=unmatched,
    )


def _persons(
    cut: Cut, has_user: np.ndarray, has_anon: np.ndarray, n_anons: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Every row's person id (`WindowInput.pid`), and the window's identity links.

    None on conflicting identity links. A row with both ids links its anonymous id
    to the user (the first link in time order wins; rows are in time order already).
    """
    anon, user = cut.cols["anon"], cut.user
    links = np.flatnonzero(has_user & has_anon)
    owner = np.full(n_anons, -1, dtype=np.int32)
    if len(links):
        width = int(user.max()) + 1
        pairs = np.unique(anon[links].astype(np.int64) * width + user[links])
        anons, users = pairs // width, pairs % width
        if (anons[1:] == anons[:-1]).any():
            return None  # linked to several users: from_events warns, and decides by time
        owner[anons] = users
    rows = np.flatnonzero(~has_user)  # every such row has an anonymous id
    if len(rows) == 0:  # users only: the user codes are the person ids
        return user.astype(np.int32, copy=False), owner
    pid = np.empty(len(anon), dtype=np.int32)
    pid[has_user] = user[has_user]
    linked = owner[anon[rows]]
    pid[rows] = np.where(linked >= 0, linked, -1 - anon[rows])
    return pid, owner


def _channels(
    cut: Cut, labels: EventLabels, group_by: str
) -> tuple[ChannelCodes, list[str]] | None:
    """The rows' channels (made on demand) and the sorted names of the touches' channels.

    Names are made once per distinct key; None when a touch's channel is blank.
    """
    cols = cut.cols
    if group_by == "source_medium":
        source, medium = cols["source"], cols["medium"]
        width = int(medium.max(initial=-1)) + 2

        def keys(rows: np.ndarray | slice) -> np.ndarray:
            return (source[rows].astype(np.int64) + 1) * width + medium[rows] + 1

    else:
        column = cols[group_by]

        def keys(rows: np.ndarray | slice) -> np.ndarray:
            return column[rows].astype(np.int64) + 1

    distinct = _distinct_touch_keys(keys, cut.is_conv)
    if group_by == "source_medium":
        source_names = _filled(labels.source, distinct // width - 1, "(direct)")
        medium_names = _filled(labels.medium, distinct % width - 1, "(none)")
        names = pc.binary_join_element_wise(source_names, medium_names, " / ").to_pylist()
    else:
        missing = "Unassigned" if group_by == "channel_group" else "(not set)"
        names = _filled(getattr(labels, group_by), distinct - 1, missing).to_pylist()
    if any(name.strip() == "" for name in names):
        return None
    # Two codes may name one channel (a stored "Unassigned" and a missing group).
    sorted_names = sorted(set(names))
    position = {name: i for i, name in enumerate(sorted_names)}
    index = np.array([position[name] for name in names], dtype=np.int32)
    return ChannelCodes(keys, distinct, index, cut.is_conv), sorted_names


#: Rows per step when finding the touches' distinct keys: chunk-sized temporaries,
#: reused by the allocator, instead of row-sized ones that cost fresh pages each query.
_KEY_CHUNK = 1 << 20


def _distinct_touch_keys(keys: Callable[[slice], np.ndarray], is_conv: np.ndarray) -> np.ndarray:
    """The distinct keys of the rows that are not conversions, sorted."""
    found = []
    for lo in range(0, len(is_conv), _KEY_CHUNK):
        rows = slice(lo, lo + _KEY_CHUNK)
        chunk = keys(rows)[~is_conv[rows]]
        if len(chunk) == 0:
            continue
        low = int(chunk.min())
        if int(chunk.max()) - low < 4 * len(chunk) + 64:  # small keys: count them
            found.append(np.flatnonzero(np.bincount(chunk - low)) + low)
        else:
            found.append(np.unique(chunk))
    if not found:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.concatenate(found))


def _filled(labels: Labels, codes: np.ndarray, missing: str) -> pa.Array:
    return pc.fill_null(labels.decode(codes.astype(np.int32)), missing)
