"""A query window's path table, updated for the persons that new events touch.

Cutting a window's journeys from ten million events takes seconds (ordering every
event by person, hashing every path), yet a batch of new events changes the journeys
of a few persons only: journeys depend on their own person's events alone. So
`WindowPaths` keeps, besides the path table, every journey of the window in the order
`Journeys.from_events` makes them (persons by id, then time), each with its person
and path. `WindowPaths.update` takes out the journeys of the persons the new events
(or changed identity links) touch, cuts theirs again from the new snapshot, puts
them in at their persons' places, and sums every path again from its journeys in
that order, the order `Journeys.by_path` sums them in: the table is equal bit for bit
to one built from scratch (``tests/api/test_window_paths.py``).

A changed window, lookback, conversion or grouping is another cache entry, built
from scratch; so is a change of the window's channel names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from causality.api.columns.journeys import WindowInput, WindowJourneys
from causality.api.columns.store import Delta
from causality.journeys import Journeys
from causality.journeys.coded import Segments, coded_segments
from causality.journeys.hashing import path_hashes, sorted_factorize  # as `Journeys.by_path`


@dataclasses.dataclass(frozen=True)
class _Paths:
    """Distinct paths ordered as `Journeys.by_path` orders them: by (first, second, length)."""

    first: np.ndarray  # uint64 hash sums (`causality.journeys.hashing.path_group_ids`)
    second: np.ndarray
    length: np.ndarray
    codes: np.ndarray
    offsets: np.ndarray


@dataclasses.dataclass(frozen=True)
class WindowPaths:
    """One window's journeys, their path table and what updating them needs.

    Journey arrays (``pid`` .. ``value``) run in record order and include the
    unattributed conversions (``path`` -1), so that their count and value can be
    summed as `Journeys.from_events` sums them.
    """

    result: WindowJourneys
    channels: tuple[str, ...]
    lookback_days: int
    identity: np.ndarray  # the snapshot's identity links the table reflects
    owner: np.ndarray  # the window's own links (`WindowInput.owner`)
    pid: np.ndarray
    path: np.ndarray
    converts: np.ndarray
    value: np.ndarray
    paths: _Paths

    @classmethod
    def build(cls, source: WindowInput, identity: np.ndarray, lookback_days: int) -> WindowPaths:
        """From scratch: every journey of the window."""
        segments = _segments(source, None, lookback_days)
        codes, offsets, pid, converts, value, journey = _records(source, segments)
        first, second, length = path_hashes(codes, offsets)
        paths, ids = _group(first, second, length, codes, offsets)
        assert paths is not None  # exact grouping always succeeds
        path = np.full(len(pid), -1, dtype=np.int64)
        path[journey] = ids
        return cls._assemble(source, identity, lookback_days, pid, path, converts, value, paths)

    def update(
        self, source: WindowInput, identity: np.ndarray, deltas: Sequence[Delta]
    ) -> WindowPaths | None:
        """The table for a newer snapshot of the same events plus ``deltas``.

        ``source`` is `window_input` of the new snapshot and ``identity`` its identity
        links. None when only a rebuild will do (the channel names changed, or two
        different paths share a hash sum: `Journeys.by_path` then orders them apart).
        """
        if source.channels != self.channels:
            return None
        users, anons = self._affected(source, identity, deltas)
        mine = _touches(self.pid, users, anons)
        theirs = np.flatnonzero(_touches(source.pid, users, anons))
        segments = _segments(source, theirs, self.lookback_days)
        codes, offsets, pid, converts, value, journey = _records(source, segments, theirs)
        # Their journeys go where their persons sort among the others (persons are
        # disjoint, and the others keep their relative order under the new ranks).
        keep = np.flatnonzero(~mine)
        slots = np.searchsorted(source.order_key(self.pid[keep]), source.order_key(pid))
        new_path = np.full(len(pid), -1, dtype=np.int64)
        merged = _merge_paths(self.paths, self.path[keep], codes, offsets)
        if merged is None:
            return None
        paths, old_path, new_ids = merged
        new_path[journey] = new_ids
        spliced = [
            np.insert(mine_, slots, theirs_)
            for mine_, theirs_ in (
                (self.pid[keep], pid),
                (old_path, new_path),
                (self.converts[keep], converts),
                (self.value[keep], value),
            )
        ]
        return self._assemble(source, identity, self.lookback_days, *spliced, paths=paths)

    def _affected(
        self, source: WindowInput, identity: np.ndarray, deltas: Sequence[Delta]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Users and anonymous ids (as masks over their codes) whose persons may change.

        Every id on a new row, every re-linked anonymous id with its old and new user,
        then, until nothing is added, the anonymous ids whose rows join an affected
        user through the window's links (old or new) and those users. Taking too many
        only costs time: an untouched person's journeys are cut again the same.
        """
        n_users = len(source.user_rank)
        n_anons = max(len(source.anon_rank), len(identity))
        users, anons = np.zeros(n_users, dtype=bool), np.zeros(n_anons, dtype=bool)
        for delta in deltas:
            user, anon = delta.rows["user"], delta.rows["anon"]
            users[user[user >= 0]] = True
            anon = anon[anon >= 0]
            anons[anon] = True
            linked = identity[anon]
            users[linked[linked >= 0]] = True
            anons[delta.linked] = True
            for links in (identity, self.identity):
                known = delta.linked[delta.linked < len(links)]
                user = links[known]
                users[user[user >= 0]] = True
        owners = [_padded(self.owner, n_anons), _padded(source.owner, n_anons)]
        while True:
            count = users.sum() + anons.sum()
            for owner in owners:
                joined = owner >= 0
                anons[joined] |= users[owner[joined]]
                users[owner[anons & joined]] = True
            if users.sum() + anons.sum() == count:
                return users, anons

    @classmethod
    def _assemble(
        cls,
        source: WindowInput,
        identity: np.ndarray,
        lookback_days: int,
        pid: np.ndarray,
        path: np.ndarray,
        converts: np.ndarray,
        value: np.ndarray,
        paths: _Paths,
    ) -> WindowPaths:
        lookback = pd.Timedelta(days=lookback_days)
        journey = path >= 0
        ids = path[journey]
        n_paths = len(paths.first)
        converted = converts[journey]
        # Summed over journeys in record order, as `Journeys.by_path` sums them.
        grouped = Journeys(
            channels=source.channels,
            codes=paths.codes,
            offsets=paths.offsets,
            conversions=np.bincount(ids, converted.astype(np.float64), minlength=n_paths),
            value=np.bincount(ids, np.where(converted, value[journey], 0.0), minlength=n_paths),
            nulls=np.bincount(ids, (~converted).astype(np.float64), minlength=n_paths),
            unattributed_conversions=float((~journey).sum()),
            unattributed_value=float(value[~journey].sum()),
            window=(
                pd.Timestamp(int(source.ts.min()) * 1000, tz="UTC"),
                pd.Timestamp(int(source.ts.max()) * 1000, tz="UTC"),
            ),
            lookback=lookback,
        )
        # Models call `by_path()` again on what they are given. Grouping a grouped table
        # yields the same records in the same order (ids follow the path hashes, which it
        # is already sorted by), so hand it back rather than hashing every touch again.
        grouped._as_grouped()
        # The table's own (read-only) copies of the touches: one copy kept, not two.
        paths = dataclasses.replace(paths, codes=grouped.codes, offsets=grouped.offsets)
        return cls(
            result=WindowJourneys(grouped, source.conversions, source.unmatched),
            channels=source.channels,
            lookback_days=lookback_days,
            identity=identity,
            owner=source.owner,
            pid=pid,
            path=path,
            converts=converts,
            value=value,
            paths=paths,
        )


def _segments(source: WindowInput, rows: np.ndarray | None, lookback_days: int) -> Segments:
    """Segments of ``rows`` of the window (every row when None: no copy of the columns).

    Cut on the stored microseconds and values: no row-sized nanosecond or filled-value
    copies, which cost a tenth of a cut from scratch over ten million events.
    """
    if rows is None:
        columns = (source.person, source.ts, source.is_conv, source.stored_value)
    else:  # the rows' persons only, not every row's
        columns = (
            source.order_key(source.pid[rows]),
            source.ts[rows],
            source.is_conv[rows],
            source.stored_value[rows],
        )
    segments = coded_segments(*columns, lookback=lookback_days * _DAY_US)
    np.nan_to_num(segments.value, copy=False, nan=0.0)  # a conversion without a value: 0
    return segments


_DAY_US = 86_400 * 1_000_000


def _records(
    source: WindowInput, segments: Segments, rows: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """Journeys and unattributed conversions of ``segments`` (cut from ``rows``).

    Returns the journeys' touches (codes, offsets), then per record its person id,
    whether it converts, its value, and which records are journeys.
    """
    unattributed = segments.unattributed
    record = np.flatnonzero((segments.touches > 0) | unattributed)
    kept_rows, last_row = segments.kept_rows, segments.last_row[record]
    if rows is not None:
        kept_rows, last_row = rows[kept_rows], rows[last_row]
    touches = segments.touches[record]
    journey = np.flatnonzero(touches > 0)
    return (
        source.codes.at(kept_rows),
        np.concatenate([[0], np.cumsum(touches[journey])]),
        source.pid[last_row],
        segments.converts[record],
        segments.value[record],
        journey,
    )


def _group(
    first: np.ndarray,
    second: np.ndarray,
    length: np.ndarray,
    codes: np.ndarray,
    offsets: np.ndarray,
    *,
    exact: bool = True,
) -> tuple[_Paths | None, np.ndarray]:
    """Distinct paths of journeys in `Journeys.by_path` order, and each journey's path.

    One hash sum decides almost always. Where a first sum is shared by different paths
    (about one chance in 2**64 per pair), `path_group_ids` orders paths by all three
    keys, and so does this with ``exact``; without it, (None, ...) says so instead.
    """
    distinct, ids = sorted_factorize(first)
    rep = np.empty(len(distinct), dtype=np.int64)
    rep[ids] = np.arange(len(ids))
    if not (np.array_equal(second[rep][ids], second) and np.array_equal(length[rep][ids], length)):
        if not exact:
            return None, ids
        order = np.lexsort((length, second, first))
        keys = np.stack([first[order], second[order], length[order].astype(np.uint64)])
        starts = np.concatenate([[True], (keys[:, 1:] != keys[:, :-1]).any(axis=0)])
        ids = np.empty(len(first), dtype=np.int64)
        ids[order] = np.cumsum(starts) - 1
        rep = order[starts]
    rep_codes, rep_offsets = _gather(codes, offsets, rep)
    return _Paths(first[rep], second[rep], length[rep], rep_codes, rep_offsets), ids


def _merge_paths(
    paths: _Paths, old_ids: np.ndarray, codes: np.ndarray, offsets: np.ndarray
) -> tuple[_Paths, np.ndarray, np.ndarray] | None:
    """Paths of the kept journeys (``old_ids``) and of new ones, unused paths dropped.

    Returns the merged paths, the kept journeys' and the new journeys' path ids in
    them; None on a hash collision.
    """
    first, second, length = path_hashes(codes, offsets)
    fresh, fresh_ids = _group(first, second, length, codes, offsets, exact=False)
    if fresh is None:
        return None
    # Merge the two sorted key lists; a key in both is one path (equal sums: the same
    # path, unless second and length disagree).
    n_old = len(paths.first)
    at = np.searchsorted(paths.first, fresh.first)
    found = at < n_old
    found[found] = paths.first[at[found]] == fresh.first[found]
    hit = at[found]
    if not (
        np.array_equal(paths.second[hit], fresh.second[found])
        and np.array_equal(paths.length[hit], fresh.length[found])
    ):
        return None
    added = np.flatnonzero(~found)
    keys = np.concatenate([paths.first, fresh.first[added]])
    order = np.argsort(keys, kind="stable")
    where = np.empty(len(keys), dtype=np.int64)
    where[order] = np.arange(len(keys))
    fresh_where = np.empty(len(fresh.first), dtype=np.int64)
    fresh_where[found] = where[hit]
    fresh_where[added] = where[n_old + np.arange(len(added))]
    kept_journey = old_ids >= 0
    old_where = np.where(kept_journey, where[np.maximum(old_ids, 0)], -1)
    new_where = fresh_where[fresh_ids]
    # Drop paths no journey uses any more (`used` and `final` run over sorted positions).
    used = np.zeros(len(keys), dtype=bool)
    used[old_where[kept_journey]] = True
    used[new_where] = True
    final = np.cumsum(used) - 1
    # Where each key's touches are: old paths in the old codes, added ones after them.
    all_codes = np.concatenate([paths.codes, fresh.codes])
    starts = np.concatenate([paths.offsets[:-1], len(paths.codes) + fresh.offsets[added]])
    lengths = np.concatenate([np.diff(paths.offsets), np.diff(fresh.offsets)[added]])
    source = order[used]  # the final paths in key order, as indices into `keys`
    merged_codes, merged_offsets = _spans(all_codes, starts[source], lengths[source])
    merged = _Paths(
        keys[order][used],
        np.concatenate([paths.second, fresh.second[added]])[order][used],
        np.concatenate([paths.length, fresh.length[added]])[order][used],
        merged_codes,
        merged_offsets,
    )
    return (
        merged,
        np.where(kept_journey, final[np.maximum(old_where, 0)], -1),
        final[new_where],
    )


def _gather(codes: np.ndarray, offsets: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, ...]:
    """The touches and offsets of records ``which``."""
    return _spans(codes, offsets[which], offsets[which + 1] - offsets[which])


def _spans(codes: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, ...]:
    """``codes[starts[i]:starts[i] + lengths[i]]`` end to end, and their offsets."""
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    index = np.arange(offsets[-1], dtype=np.int64) + np.repeat(starts - offsets[:-1], lengths)
    return codes[index], offsets


def _touches(pid: np.ndarray, users: np.ndarray, anons: np.ndarray) -> np.ndarray:
    """Whether each person id is an affected user or an affected anonymous id."""
    is_user = pid >= 0
    out = np.empty(len(pid), dtype=bool)
    out[is_user] = users[pid[is_user]]
    out[~is_user] = anons[-1 - pid[~is_user]]
    return out


def _padded(owner: np.ndarray, size: int) -> np.ndarray:
    if len(owner) >= size:
        return owner[:size]
    return np.concatenate([owner, np.full(size - len(owner), -1, dtype=owner.dtype)])
