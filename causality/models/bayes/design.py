"""Person-period design: each user at risk day by day, aggregated into sufficient statistics.

Every user with a touch is at risk on each day from the data's first day (or their first
touch, ``risk_start="first_touch"``) until their first conversion or the data's last day
(or, with repeat purchases, to the data's last day, every conversion counting).
On each day the hazard depends on every channel's adstock *up to that day*
(``A_t = decay * A_(t-1) + touches_t``), its saturating response ``g(A)``, the user's
covariate cell and the day of week. `causality.models.bayes.cells` bins the adstock and
groups the person-days into few unique rows of sufficient statistics: the likelihood only
needs those counts, and 1M users cost little more than 100k.

A user's touch history is rebuilt from all of their journeys. Journeys drop touches outside
their ``lookback``, so build them with ``lookback=None`` for this model.

Unattributed conversions (no touch before them) are not in any journey, yet they happened
before their user's first touch: the aggregation spreads them over the person-days before
first touches in proportion to their days at risk (fractional counts), so the organic rate
is not understated (with ``risk_start="first_touch"`` those days are not at risk, and
neither are the unattributed conversions).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from causality.errors import ConfigurationError, JourneyValidationError
from causality.journeys import Journeys

#: ``k`` of the saturating response ``g(A) = (1 - exp(-k A)) / (1 - exp(-k))`` (g(1) = 1).
SATURATION = 0.3
#: Numeric covariates with more distinct values than this are cut into quantile bins.
MAX_NUMERIC_VALUES = 8
N_NUMERIC_BINS = 5
_DAY = np.timedelta64(1, "D")


def response(stock: np.ndarray, k: float = SATURATION) -> np.ndarray:
    """Saturating response of the adstock, ``g(0) = 0``, ``g(1) = 1``.

    Examples
    --------
    >>> response(np.array([0.0, 1.0])).tolist()
    [0.0, 1.0]
    """
    return np.expm1(-k * stock) / np.expm1(-k)


def adstock(touches: np.ndarray, decay: float) -> np.ndarray:
    """Geometric adstock ``A_t = decay A_(t-1) + x_t`` along the last axis, in place.

    A doubling scan (log2(days) whole-array steps) rather than a loop over days.

    Examples
    --------
    >>> adstock(np.array([[1.0, 0.0, 1.0]], dtype=np.float32), 0.5).tolist()
    [[1.0, 0.5, 1.25]]
    """
    step, factor = 1, np.float32(decay)
    while decay > 0 and step < touches.shape[-1]:
        touches[..., step:] += factor * touches[..., :-step]
        step, factor = 2 * step, factor * factor
    return touches


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
    end: np.ndarray  # per user: last day at risk (the first conversion's, unless repeats)
    first_touch: np.ndarray  # per user: day of the first touch
    converted: np.ndarray  # per user: bool, any modelled conversion
    first_conversion: np.ndarray  # per user: day of the first conversion (n_days if none)
    conversion_user: np.ndarray  # per modelled conversion (the first, or every one)
    conversion_day: np.ndarray
    conversion_count: np.ndarray  # conversions at that time (1 for event logs)
    cell: np.ndarray  # per user: covariate cell
    cell_matrix: np.ndarray  # (n_cells, n_columns) standardised covariate columns
    cell_columns: tuple[str, ...]
    dow: np.ndarray  # per day: 0 = Monday
    value_per_conversion: float
    unattributed: float  # conversions with no touch before them (zero exposure state)
    #: Whether every conversion counts (users stay at risk after buying; no depletion).
    repeat_purchases: bool = False


def user_days(
    journeys: Journeys,
    covariates: Sequence[str] = (),
    *,
    risk_start: str = "data",
    repeat_purchases: bool = False,
) -> UserDays:
    """Rebuild each user's touches and conversions by day from ``journeys`` (vectorised).

    Without ``repeat_purchases`` a user's first conversion ends their time at risk; with
    it, every conversion counts and users stay at risk to the end of the data.
    """
    attributes = journeys.attributes
    if attributes is None or journeys.times is None or journeys.window is None:
        raise JourneyValidationError(
            "the incrementality model needs touch timestamps and users, but these journeys "
            "come from a path table (no 'timestamp'). Fix: build them with "
            "Journeys.from_events(events, lookback=None)."
        )
    users, n_users = _user_codes(attributes)
    day0 = _naive(journeys.window[0]).floor("D")
    origin = np.datetime64(day0.to_datetime64(), "ns")
    last = np.datetime64(_naive(journeys.window[1]).to_datetime64(), "ns")
    n_days = int((last - origin) // _DAY) + 1
    conv_user, conv_time, conv_count = _conversions(journeys, users, repeat_purchases)
    conv_day = ((conv_time - origin) // _DAY).astype(np.int64)
    touch_user = np.repeat(users, journeys.lengths)
    times = journeys.times
    touch_day = ((times - origin) // _DAY).astype(np.int64)
    # A touch later on a conversion's day came after the purchase: it is not exposure on
    # that day. Touches on later days are kept (the self-controlled design uses them).
    earliest = pd.Series(conv_time).groupby(conv_user * n_days + conv_day).min()
    position = earliest.index.get_indexer(touch_user * n_days + touch_day)
    late = position >= 0
    late[late] = times[late] > earliest.to_numpy()[position[late]]
    touch_user, touch_day = touch_user[~late], touch_day[~late]
    touch_code = journeys.codes[~late].astype(np.int64)
    first_touch = np.full(n_users, n_days, dtype=np.int64)
    np.minimum.at(first_touch, touch_user, touch_day)
    first_conversion = np.full(n_users, n_days, dtype=np.int64)
    np.minimum.at(first_conversion, conv_user, conv_day)
    converted = first_conversion < n_days
    end = np.full(n_users, n_days - 1, dtype=np.int64)
    if not repeat_purchases:
        end[converted] = first_conversion[converted]
    start = np.minimum(first_touch, end) if risk_start == "first_touch" else np.zeros_like(end)
    cell, matrix, columns = _covariate_cells(journeys, users, n_users, covariates)
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
        first_conversion=first_conversion,
        conversion_user=conv_user,
        conversion_day=conv_day,
        conversion_count=conv_count,
        cell=cell,
        cell_matrix=matrix,
        cell_columns=columns,
        dow=(day0.day_of_week + np.arange(n_days)) % 7,
        value_per_conversion=float(vpc),
        unattributed=journeys.unattributed_conversions if risk_start == "data" else 0.0,
        repeat_purchases=repeat_purchases,
    )


def _naive(stamp: pd.Timestamp) -> pd.Timestamp:
    return stamp.tz_convert(None) if stamp.tzinfo else stamp


def _conversions(
    journeys: Journeys, users: np.ndarray, repeat_purchases: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """User, time and count of the modelled conversions: each user's first, or all."""
    converting = journeys.conversions > 0
    user = users[converting]
    time = journeys.conversion_times[converting]
    count = journeys.conversions[converting].astype(np.float64)
    if not repeat_purchases:
        order = np.lexsort((time, user))
        first = order[np.r_[True, user[order][1:] != user[order][:-1]]] if len(order) else order
        user, time, count = user[first], time[first], np.ones(len(first))
    return user, time, count


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
    frame = user_frame(journeys)
    codes, parts, names = [], [], []
    for name in covariates:
        code, values, labels = _encode_column(frame[name], name)
        codes.append(code)
        parts.append(values)
        names.extend(labels)
    cells, cell = np.unique(np.column_stack(codes), axis=0, return_inverse=True)
    matrix = np.column_stack([p[cells[:, i]] for i, p in enumerate(parts)])
    return cell.ravel().astype(np.int64), matrix.astype(np.float64), tuple(names)


def user_frame(journeys: Journeys) -> pd.DataFrame:
    """Each user's attributes (at their first journey), row ``i`` the user of code ``i``."""
    users, _ = _user_codes(journeys.attributes)
    first_time = journeys.times[journeys.offsets[:-1]]
    order = np.lexsort((first_time, users))
    firsts = order[np.r_[True, users[order][1:] != users[order][:-1]]]
    return journeys.attributes.iloc[firsts].reset_index(drop=True)


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


def conversions_at(ud: UserDays, user: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Modelled conversions on each (user, day) person-day (zero on most)."""
    keys, inverse = np.unique(
        ud.conversion_user * ud.n_days + ud.conversion_day, return_inverse=True
    )
    counts = np.bincount(inverse, weights=ud.conversion_count, minlength=len(keys))
    query = user * ud.n_days + day
    position = np.minimum(np.searchsorted(keys, query), max(len(keys) - 1, 0))
    if not len(keys):
        return np.zeros(len(query))
    return np.where(keys[position] == query, counts[position], 0.0)


def risk_days(ud: UserDays, day_mask: np.ndarray | None = None) -> np.ndarray:
    """Flat (user * n_days + day) indices of the person-days at risk."""
    days = np.arange(ud.n_days)
    mask = (days[None, :] >= ud.start[:, None]) & (days[None, :] <= ud.end[:, None])
    if day_mask is not None:
        mask &= day_mask[None, :]
    return np.flatnonzero(mask)
