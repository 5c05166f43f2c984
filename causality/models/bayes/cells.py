"""Person-days at risk aggregated into unique rows of sufficient statistics.

Each person-day at risk has an exposure state (every channel's adstock binned into
`N_LEVELS` levels), a covariate cell, a day of week, whether it falls before the user's
first touch, and the touches so far (capped at `PATH_CAP`, for the posterior predictive
check only). The likelihood needs only ``at_risk`` days and ``conversions`` per unique
combination, so person-days are grouped once, in blocks of users (memory stays bounded at
1M users), with hash grouping (no sort of the person-days): `aggregate` returns the
rows split by path length, and `Cells.collapse` merges path lengths for the likelihood
(several times fewer rows). A level's response value is the mean response ``g(A)`` of
the person-days in it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from causality.models.bayes.design import UserDays, adstock, conversions_at, response

#: Upper edges of the adstock bins: level 0 is (almost) no adstock, level 4 is 2.5 and more.
LEVEL_EDGES = np.array([0.05, 0.5, 1.5, 2.5], dtype=np.float32)
N_LEVELS = len(LEVEL_EDGES) + 1
#: Touches so far (all channels) are capped here for the posterior predictive check.
PATH_CAP = 4
#: Person-day cells per block of users.
BLOCK_CELLS = 8_000_000
#: Channels packed into one int64 word of the row key: 5^20 < 2^47, which leaves room to
#: pack the context into the same word (one hashable column, the fast path).
_PER_WORD = 20


@dataclasses.dataclass(frozen=True, eq=False)
class Cells:
    """Unique (exposure state, covariate cell, day of week, fresh, path length) rows."""

    response: np.ndarray  # (n_rows, n_channels)
    covariates: np.ndarray  # (n_rows, n_columns)
    dow: np.ndarray
    path_length: np.ndarray
    at_risk: np.ndarray
    conversions: np.ndarray
    group: np.ndarray  # per row: its row once path lengths are merged (see `collapse`)
    #: Sums over the row's person-days of the days left in the data after that day (and of
    #: their squares): how long a user at risk that day could still convert, for the
    #: counterfactual's survival term (zero with repeat purchases: no depletion).
    days_after: np.ndarray
    days_after_sq: np.ndarray

    @property
    def n_rows(self) -> int:
        """Number of unique rows."""
        return len(self.at_risk)

    def collapse(self) -> Cells:
        """The same person-days with path lengths merged (the likelihood's rows).

        Examples
        --------
        >>> cells = Cells(
        ...     response=np.array([[1.0], [1.0], [0.0]]), covariates=np.zeros((3, 0)),
        ...     dow=np.array([2, 2, 3]), path_length=np.array([1, 2, 0]),
        ...     at_risk=np.array([10.0, 5.0, 7.0]), conversions=np.array([1.0, 0.0, 2.0]),
        ...     group=np.array([0, 0, 1]), days_after=np.array([50.0, 20.0, 7.0]),
        ...     days_after_sq=np.array([300.0, 90.0, 7.0]))
        >>> merged = cells.collapse()
        >>> merged.at_risk.tolist(), merged.conversions.tolist(), merged.days_after.tolist()
        ([15.0, 7.0], [1.0, 2.0], [70.0, 7.0])
        """
        n = int(self.group.max()) + 1 if self.n_rows else 0
        first = np.full(n, -1, dtype=np.int64)
        first[self.group[::-1]] = np.arange(self.n_rows)[::-1]

        def merged(values: np.ndarray) -> np.ndarray:
            return np.bincount(self.group, weights=values, minlength=n)

        return Cells(
            response=self.response[first],
            covariates=self.covariates[first],
            dow=self.dow[first],
            path_length=np.zeros(n, dtype=np.int64),
            at_risk=merged(self.at_risk),
            conversions=merged(self.conversions),
            group=np.arange(n),
            days_after=merged(self.days_after),
            days_after_sq=merged(self.days_after_sq),
        )


def aggregate(
    ud: UserDays,
    decays: Sequence[float],
    *,
    day_mask: np.ndarray | None = None,
    users: np.ndarray | None = None,
) -> Cells:
    """Group the person-days at risk (optionally only ``day_mask`` days and ``users``)."""
    n_channels = len(ud.channels)
    selected = None
    if users is not None:
        selected = np.zeros(ud.n_users, dtype=bool)
        selected[users] = True
    level_sum = np.zeros((n_channels, N_LEVELS))
    level_count = np.zeros((n_channels, N_LEVELS))
    keys, at_risk, conversions, after, after_sq = [], [], [], [], []
    block = max(1, BLOCK_CELLS // ud.n_days)
    touches = _touches_by_user(ud)
    n_context = len(ud.cell_matrix) * 7 * 2 * (PATH_CAP + 1)
    for first in range(0, ud.n_users, block):
        bounds = (first, min(first + block, ud.n_users))
        part = _block(ud, decays, touches, bounds, day_mask, selected, n_context)
        if part is None:
            continue
        key, risk, conv, left, left_sq, sums, counts = part
        keys.append(key)
        at_risk.append(risk)
        conversions.append(conv)
        after.append(left)
        after_sq.append(left_sq)
        level_sum += sums
        level_count += counts
    if not keys:
        return _empty(n_channels, ud.cell_matrix.shape[1])
    unique, inverse = _group(np.concatenate(keys))
    at_risk_rows = np.bincount(inverse, weights=np.concatenate(at_risk))
    conversion_rows = np.bincount(inverse, weights=np.concatenate(conversions))
    after_rows = np.bincount(inverse, weights=np.concatenate(after))
    after_sq_rows = np.bincount(inverse, weights=np.concatenate(after_sq))
    words, context = _split(unique, n_channels, n_context)
    levels = _levels(words, n_channels)
    value = np.divide(level_sum, level_count, out=np.zeros_like(level_sum), where=level_count > 0)
    length = context % (PATH_CAP + 1)
    rest = context // (PATH_CAP + 1)
    fresh, rest = rest % 2, rest // 2
    dow, cell = rest % 7, rest // 7
    if ud.unattributed > 0 and day_mask is None and users is None:
        conversion_rows = conversion_rows + _unattributed_share(
            fresh.astype(bool), at_risk_rows, ud.unattributed
        )
    _, group = _group(_encode(words, context // (PATH_CAP + 1), n_context // (PATH_CAP + 1)))
    return Cells(
        response=value[np.arange(n_channels)[None, :], levels],
        covariates=ud.cell_matrix[cell],
        dow=dow.astype(np.int64),
        path_length=length.astype(np.int64),
        at_risk=at_risk_rows,
        conversions=conversion_rows,
        group=group,
        days_after=after_rows,
        days_after_sq=after_sq_rows,
    )


def _touches_by_user(ud: UserDays) -> tuple[np.ndarray, np.ndarray]:
    """Touches sorted by user, with each user's offset into them (for blocks of users)."""
    order = np.argsort(ud.touch_user, kind="stable")
    offsets = np.searchsorted(ud.touch_user[order], np.arange(ud.n_users + 1))
    return order, offsets


def _block(ud, decays, touches, bounds, day_mask, selected, n_context):
    """Row keys, days at risk, conversions and days after of users [lo, hi), level sums."""
    lo, hi = bounds
    n_users, n_days, n_channels = hi - lo, ud.n_days, len(ud.channels)
    days = np.arange(n_days)
    start, end = ud.start[lo:hi, None], ud.end[lo:hi, None]
    mask = (days[None, :] >= start) & (days[None, :] <= end)
    if day_mask is not None:
        mask &= day_mask[None, :]
    if selected is not None:
        mask &= selected[lo:hi, None]
    index = np.flatnonzero(mask)
    if not len(index):
        return None
    order, offsets = touches
    rows = order[offsets[lo] : offsets[hi]]
    user = ud.touch_user[rows] - lo
    flat = user * n_days + ud.touch_day[rows]
    code = ud.touch_code[rows]
    size = n_users * n_days
    at_risk_flat = mask.ravel()
    n_at_risk = len(index)
    sums, counts = np.zeros((n_channels, N_LEVELS)), np.zeros((n_channels, N_LEVELS))
    # Dense (users x days) packed state words, filled only where a channel's adstock is
    # non-zero (a small share of person-days), then gathered once at the days at risk.
    words = np.zeros((_n_words(n_channels), size), dtype=np.int64)
    for c in range(n_channels):
        stock = np.bincount(flat[code == c], minlength=size).astype(np.float32)
        stock = adstock(stock.reshape(n_users, n_days), float(decays[c])).ravel()
        where = np.flatnonzero(stock)
        where = where[at_risk_flat[where]]
        value = stock[where]
        level = np.searchsorted(LEVEL_EDGES, value, side="right")
        counts[c] = np.bincount(level, minlength=N_LEVELS)
        counts[c, 0] += n_at_risk - len(where)  # zero adstock: level 0, response 0
        sums[c] = np.bincount(level, weights=response(value), minlength=N_LEVELS)
        w = c // _PER_WORD
        last = min((w + 1) * _PER_WORD, n_channels) - 1
        words[w, where] += level * N_LEVELS ** (last - c)
    words = words[:, index].T
    per_day = np.bincount(flat, minlength=size).reshape(n_users, n_days)
    length = np.minimum(np.cumsum(per_day, axis=1), PATH_CAP).ravel()[index]
    u, day = index // n_days + lo, index % n_days
    fresh = day < ud.first_touch[u]
    context = ((ud.cell[u] * 7 + ud.dow[day]) * 2 + fresh) * (PATH_CAP + 1) + length
    converted = conversions_at(ud, u, day)
    unique, inverse = _group(_encode(words, context, n_context))
    at_risk = np.bincount(inverse).astype(np.float64)
    conversions = np.bincount(inverse, weights=converted)
    # Without repeat purchases a conversion ends the user's time at risk, so an exposure's
    # extra conversion may only move one from later in the window (see `counterfactual`).
    left = np.zeros(len(day)) if ud.repeat_purchases else (n_days - 1 - day).astype(np.float64)
    after = np.bincount(inverse, weights=left)
    after_sq = np.bincount(inverse, weights=left * left)
    return unique, at_risk, conversions, after, after_sq, sums, counts


def _n_words(n_channels: int) -> int:
    return max(1, -(-n_channels // _PER_WORD))


def _encode(words: np.ndarray, context: np.ndarray, n_context: int) -> np.ndarray:
    """Key matrix of rows: one int64 column when the state and context fit together."""
    if _fits(words.shape[1], n_context):
        return (words[:, 0] * n_context + context).reshape(-1, 1)
    return np.column_stack([words, context])


def _split(keys: np.ndarray, n_channels: int, n_context: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `_encode`: the state words and the context."""
    if keys.shape[1] == 1:
        return (keys[:, 0] // n_context).reshape(-1, 1), keys[:, 0] % n_context
    return keys[:, :-1], keys[:, -1]


def _fits(n_words: int, n_context: int) -> bool:
    """Whether one packed word of `_PER_WORD` channels and the context fit in an int64."""
    return n_words == 1 and float(N_LEVELS) ** _PER_WORD * n_context < 2.0**62


def _group(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique rows of an int64 key matrix and each row's group (hash grouping)."""
    if keys.shape[1] == 1:
        codes, uniques = pd.factorize(keys[:, 0])
        return uniques.reshape(-1, 1), codes
    frame = pd.DataFrame(keys)
    codes = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
    first = np.full(codes.max() + 1, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    return keys[first], codes


def _levels(words: np.ndarray, n_channels: int) -> np.ndarray:
    """Every channel's level per row, (n_rows, C), from the packed state words."""
    levels = np.empty((len(words), n_channels), dtype=np.int64)
    for w in range(words.shape[1]):
        channels = range(w * _PER_WORD, min((w + 1) * _PER_WORD, n_channels))
        word = words[:, w].copy()
        for c in reversed(channels):
            levels[:, c] = word % N_LEVELS
            word //= N_LEVELS
    return levels


def _unattributed_share(fresh: np.ndarray, at_risk: np.ndarray, total: float) -> np.ndarray:
    """Unattributed conversions spread over the days before users' first touch.

    An unattributed conversion has no touch before it, so it happened before the user's
    first touch; its day and covariates are unknown. Leaving them out would make those
    days look conversion-poor (the event log's selection trap) and inflate every channel.
    """
    days = at_risk * fresh
    return total * days / days.sum() if days.sum() > 0 else np.zeros(len(at_risk))


def _empty(n_channels: int, n_columns: int) -> Cells:
    return Cells(
        response=np.zeros((0, n_channels)),
        covariates=np.zeros((0, n_columns)),
        dow=np.zeros(0, dtype=np.int64),
        path_length=np.zeros(0, dtype=np.int64),
        at_risk=np.zeros(0),
        conversions=np.zeros(0),
        group=np.zeros(0, dtype=np.int64),
        days_after=np.zeros(0),
        days_after_sq=np.zeros(0),
    )
