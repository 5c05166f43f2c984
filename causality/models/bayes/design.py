"""Person-period design: each user at risk day by day, aggregated into sufficient statistics.

Every user with a touch is at risk on each day from the data's first day (or their first
touch, ``risk_start="first_touch"``) until their first conversion or the data's last day.
On each day the hazard depends on every channel's adstock *up to that day*
(``A_t = decay * A_(t-1) + touches_t``), its saturating response ``g(A)``, the user's
covariate cell and the day of week. Adstock is binned into `N_LEVELS` levels per channel
(the level's value is the mean response of the person-days in it), so the person-days fall
into few unique (exposure state, covariate cell, day of week, path length) rows holding
``at_risk`` days and ``conversions``: the likelihood only needs those counts, and 1M users
cost little more than 100k.

A user's touch history is rebuilt from all of their journeys. Journeys drop touches outside
their ``lookback``, so build them with ``lookback=None`` for this model.

Unattributed conversions (no touch before them) are not in any journey, yet they happened
before their user's first touch: they are spread over the person-days before first touches
in proportion to their days at risk (fractional counts), so the organic rate is not
understated (with ``risk_start="first_touch"`` those days are not at risk, and neither are
the unattributed conversions).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from causality.errors import ConfigurationError, JourneyValidationError
from causality.journeys import Journeys

#: Upper edges of the adstock bins: level 0 is (almost) no adstock, level 4 is 2.5 and more.
LEVEL_EDGES = np.array([0.05, 0.5, 1.5, 2.5])
N_LEVELS = len(LEVEL_EDGES) + 1
#: Touches so far (all channels) are capped here for the posterior predictive check.
PATH_CAP = 4
#: ``k`` of the saturating response ``g(A) = (1 - exp(-k A)) / (1 - exp(-k))`` (g(1) = 1).
SATURATION = 0.3
#: Numeric covariates with more distinct values than this are cut into quantile bins.
MAX_NUMERIC_VALUES = 8
N_NUMERIC_BINS = 5
_DAY = np.timedelta64(1, "D")


def response(stock: np.ndarray, k: float = SATURATION) -> np.ndarray:
    """Saturating response of the adstock, ``g(0) = 0``, ``g(1) = 1``."""
    return np.expm1(-k * stock) / np.expm1(-k)


@dataclasses.dataclass(frozen=True, eq=False)
class UserDays:
    """Touches of every user by day, their risk period and covariate cell."""

    channels: tuple[str, ...]
    n_users: int
    n_days: int
    day0: pd.Timestamp
    touch_user: np.ndarray  # per kept touch
    touch_day: np.ndarray
    touch_code: np.ndarray
    start: np.ndarray  # per user: first day at risk
    end: np.ndarray  # per user: last day at risk (the conversion day for converters)
    first_touch: np.ndarray  # per user: day of the first touch
    converted: np.ndarray  # per user: bool
    cell: np.ndarray  # per user: covariate cell
    cell_matrix: np.ndarray  # (n_cells, n_columns) standardised covariate columns
    cell_columns: tuple[str, ...]
    dow: np.ndarray  # per day: 0 = Monday
    value_per_conversion: float
    unattributed: float  # conversions with no touch before them (zero exposure state)


@dataclasses.dataclass(frozen=True, eq=False)
class Cells:
    """Unique (exposure state, covariate cell, day of week, path length) rows."""

    response: np.ndarray  # (n_rows, n_channels)
    covariates: np.ndarray  # (n_rows, n_columns)
    dow: np.ndarray
    path_length: np.ndarray
    at_risk: np.ndarray
    conversions: np.ndarray

    @property
    def n_rows(self) -> int:
        """Number of unique rows."""
        return len(self.at_risk)


def user_days(
    journeys: Journeys, covariates: Sequence[str] = (), *, risk_start: str = "data"
) -> UserDays:
    """Rebuild each user's touches by day from ``journeys`` (vectorised, no loop per user)."""
    attributes = journeys.attributes
    if attributes is None or journeys.times is None or journeys.window is None:
        raise JourneyValidationError(
            "the incrementality model needs touch timestamps and users, but these journeys "
            "come from a path table (no 'timestamp'). Fix: build them with "
            "Journeys.from_events(events, lookback=None)."
        )
    users, n_users = _user_codes(attributes)
    lengths = journeys.lengths
    touch_user = np.repeat(users, lengths)
    day0 = (
        journeys.window[0].tz_convert(None).floor("D")
        if journeys.window[0].tzinfo
        else (journeys.window[0].floor("D"))
    )
    origin = np.datetime64(day0.to_datetime64(), "ns")
    last = journeys.window[1].tz_convert(None) if journeys.window[1].tzinfo else journeys.window[1]
    n_days = int((np.datetime64(last.to_datetime64(), "ns") - origin) // _DAY) + 1
    # First conversion of each user; touches after it (even the same day) are not exposure.
    converting = journeys.conversions > 0
    conv_time = np.full(n_users, np.datetime64("NaT", "ns"))
    if converting.any():
        frame = pd.DataFrame({"u": users[converting], "t": journeys.conversion_times[converting]})
        first = frame.groupby("u")["t"].min()
        conv_time[first.index.to_numpy()] = first.to_numpy()
    converted = ~np.isnat(conv_time)
    times = journeys.times
    # Touches later on the conversion day are dropped (they came after it); touches on
    # later days are kept: they never reach a day at risk, and the self-controlled design
    # uses them (exposure after the purchase).
    touch_day = ((times - origin) // _DAY).astype(np.int64)
    conv_day = np.full(n_users, n_days, dtype=np.int64)
    conv_day[converted] = (conv_time[converted] - origin) // _DAY
    keep = (times <= conv_time[touch_user]) | (touch_day > conv_day[touch_user])
    keep |= ~converted[touch_user]
    touch_user, times, touch_day = touch_user[keep], times[keep], touch_day[keep]
    touch_code = journeys.codes[keep].astype(np.int64)
    first_touch = np.full(n_users, n_days, dtype=np.int64)
    np.minimum.at(first_touch, touch_user, touch_day)
    end = np.full(n_users, n_days - 1, dtype=np.int64)
    end[converted] = (conv_time[converted] - origin) // _DAY
    if risk_start == "first_touch":
        start = np.minimum(first_touch, end)
    else:
        start = np.zeros(n_users, dtype=np.int64)
    cell, matrix, columns = _covariate_cells(journeys, users, n_users, covariates)
    dow = (day0.day_of_week + np.arange(n_days)) % 7
    total_conv = journeys.total_conversions
    vpc = journeys.total_value / total_conv if total_conv > 0 else 1.0
    return UserDays(
        channels=journeys.channels,
        n_users=n_users,
        n_days=n_days,
        day0=day0,
        touch_user=touch_user,
        touch_day=touch_day,
        touch_code=touch_code,
        start=start,
        end=end,
        first_touch=first_touch,
        converted=converted,
        cell=cell,
        cell_matrix=matrix,
        cell_columns=columns,
        dow=dow,
        value_per_conversion=float(vpc),
        unattributed=journeys.unattributed_conversions if risk_start == "data" else 0.0,
    )


def _user_codes(attributes: pd.DataFrame) -> tuple[np.ndarray, int]:
    if "user" not in attributes.columns:
        raise JourneyValidationError(
            "journeys carry no 'user' attribute, so touches cannot be grouped per user. "
            "Fix: build them with Journeys.from_events(events, lookback=None)."
        )
    codes, uniques = pd.factorize(attributes["user"], sort=True)
    return codes.astype(np.int64), len(uniques)


def available_covariates(journeys: Journeys) -> list[str]:
    """Journey attributes usable as covariates (everything but the user id)."""
    attributes = journeys.attributes
    return [] if attributes is None else [c for c in attributes.columns if c != "user"]


def _covariate_cells(
    journeys: Journeys, users: np.ndarray, n_users: int, covariates: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Each user's covariate cell (values at their first journey) and the cells' columns."""
    if not covariates:
        return np.zeros(n_users, dtype=np.int64), np.zeros((1, 0)), ()
    available = available_covariates(journeys)
    unknown = [c for c in covariates if c not in available]
    if unknown:
        raise ConfigurationError(
            f"covariates: unknown column(s) {unknown}. Available columns (journey attributes "
            f"kept by Journeys.from_events): {available}"
        )
    first_time = journeys.times[journeys.offsets[:-1]]
    order = np.lexsort((first_time, users))
    firsts = order[np.r_[True, users[order][1:] != users[order][:-1]]]
    frame = journeys.attributes.iloc[firsts].reset_index(drop=True)
    codes, parts, names = [], [], []
    for name in covariates:
        code, values, labels = _encode_column(frame[name], name)
        codes.append(code)
        parts.append(values)
        names.extend(labels)
    cells, cell = np.unique(np.column_stack(codes), axis=0, return_inverse=True)
    matrix = np.column_stack([p[cells[:, i]] for i, p in enumerate(parts)])
    per_user = np.zeros(n_users, dtype=np.int64)
    per_user[users[firsts]] = cell.ravel()
    return per_user, matrix.astype(np.float64), tuple(names)


def _encode_column(series: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Codes per user and a (n_codes[, n_columns]) table of standardised design values."""
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if numeric:
        values = series.astype(float)
        values = values.fillna(values.median() if values.notna().any() else 0.0)
        if values.nunique() > MAX_NUMERIC_VALUES:
            bins = pd.qcut(values, N_NUMERIC_BINS, labels=False, duplicates="drop")
            code = np.asarray(bins, dtype=np.int64)
            level = values.groupby(code).mean().to_numpy()
        else:
            code, uniques = pd.factorize(values, sort=True)
            level = np.asarray(uniques, dtype=float)
        sd = values.std() or 1.0
        return code, (level - values.mean()) / sd, [name]
    code, uniques = pd.factorize(series.astype(object).fillna("(missing)"), sort=True)
    onehot = np.eye(len(uniques))[:, 1:]
    return code, onehot, [f"{name}={u}" for u in uniques[1:]]


def _channel_stock(ud: UserDays, channel: int, decay: float) -> np.ndarray:
    """Dense (users, days) adstock of one channel."""
    sel = ud.touch_code == channel
    flat = ud.touch_user[sel] * ud.n_days + ud.touch_day[sel]
    stock = np.bincount(flat, minlength=ud.n_users * ud.n_days).astype(np.float32)
    stock = stock.reshape(ud.n_users, ud.n_days)
    if decay > 0:
        for t in range(1, ud.n_days):  # a loop over days, vectorised over users
            stock[:, t] += np.float32(decay) * stock[:, t - 1]
    return stock


def risk_days(ud: UserDays, day_mask: np.ndarray | None = None) -> np.ndarray:
    """Flat (user * n_days + day) indices of the person-days at risk."""
    days = np.arange(ud.n_days)
    mask = (days[None, :] >= ud.start[:, None]) & (days[None, :] <= ud.end[:, None])
    if day_mask is not None:
        mask &= day_mask[None, :]
    return np.flatnonzero(mask)


def aggregate(
    ud: UserDays,
    decays: Sequence[float],
    *,
    day_mask: np.ndarray | None = None,
    users: np.ndarray | None = None,
    path: bool = False,
) -> Cells:
    """Aggregate the at-risk person-days into unique rows of sufficient statistics.

    ``path=True`` also splits rows by touches so far (capped at `PATH_CAP`), for the
    posterior predictive check by path length; the likelihood does not need it, and
    without it there are several times fewer rows.
    """
    index = risk_days(ud, day_mask)
    if users is not None:
        index = index[np.isin(index // ud.n_days, users)]
    user, day = index // ud.n_days, index % ud.n_days
    n_channels = len(ud.channels)
    levels = np.empty((len(index), n_channels), dtype=np.int8)
    value = np.zeros((n_channels, N_LEVELS))
    for c in range(n_channels):
        stock = _channel_stock(ud, c, float(decays[c])).ravel()[index]
        levels[:, c] = np.digitize(stock, LEVEL_EDGES)
        count = np.bincount(levels[:, c], minlength=N_LEVELS)
        total = np.bincount(levels[:, c], weights=response(stock), minlength=N_LEVELS)
        value[c] = np.divide(total, count, out=np.zeros(N_LEVELS), where=count > 0)
    if path:
        touches = np.bincount(
            ud.touch_user * ud.n_days + ud.touch_day, minlength=ud.n_users * ud.n_days
        ).reshape(ud.n_users, ud.n_days)
        length = np.minimum(np.cumsum(touches, axis=1), PATH_CAP).ravel()[index]
    else:
        length = np.zeros(len(index), dtype=np.int64)
    # Days before a user's first touch form their own rows: unattributed conversions happen there.
    fresh = day < ud.first_touch[user]
    context = ((ud.cell[user] * 7 + ud.dow[day]) * (PATH_CAP + 1) + length) * 2 + fresh
    key = _row_key(levels, context)
    uniq, inverse, at_risk = np.unique(key, return_inverse=True, return_counts=True)
    converted = ud.converted[user] & (day == ud.end[user])
    conversions = np.bincount(inverse, weights=converted, minlength=len(uniq))
    first = np.empty(len(uniq), dtype=np.int64)
    first[inverse] = np.arange(len(index))
    rows = levels[first].astype(np.int64)
    if ud.unattributed > 0 and day_mask is None and users is None:
        fresh_row = fresh[first]
        conversions = conversions + _unattributed_share(fresh_row, at_risk, ud.unattributed)
    return Cells(
        response=value[np.arange(n_channels)[None, :], rows],
        covariates=ud.cell_matrix[ud.cell[user[first]]],
        dow=ud.dow[day[first]].astype(np.int64),
        path_length=length[first].astype(np.int64),
        at_risk=at_risk.astype(np.float64),
        conversions=conversions,
    )


def _unattributed_share(fresh: np.ndarray, at_risk: np.ndarray, total: float) -> np.ndarray:
    """Unattributed conversions spread over the days before users' first touch.

    An unattributed conversion has no touch before it, so it happened before the user's
    first touch; its day and covariates are unknown. Leaving them out would make those
    days look conversion-poor (the event log's selection trap) and inflate every channel.
    """
    days = at_risk * fresh
    return total * days / days.sum() if days.sum() > 0 else np.zeros(len(at_risk))


def _row_key(levels: np.ndarray, context: np.ndarray) -> np.ndarray:
    """One int64 per person-day identifying its row; re-densified before it could overflow."""
    key = np.zeros(len(levels), dtype=np.int64)
    bound = 1
    for c in range(levels.shape[1]):
        if bound * N_LEVELS > 2**40:
            _, key = np.unique(key, return_inverse=True)
            bound = int(key.max()) + 1 if len(key) else 1
        key = key * N_LEVELS + levels[:, c]
        bound *= N_LEVELS
    if bound * (int(context.max()) + 1 if len(context) else 1) > 2**62:
        _, key = np.unique(key, return_inverse=True)
    return key * (int(context.max()) + 1 if len(context) else 1) + context
