"""The `Journeys` container: touches, conversions and values in columnar form."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from causality.errors import ConfigurationError
from causality.journeys.hashing import path_group_ids

DEFAULT_SEP = " > "


# Set while a constructor adopts arrays its caller made for it (`_adopting`).
_ADOPTING = contextvars.ContextVar("causality_journeys_adopting", default=False)


def _frozen(array: np.ndarray | None, dtype: Any) -> np.ndarray | None:
    if array is None:
        return None
    out = np.ascontiguousarray(array, dtype=dtype)
    if (out is array or out.base is not None) and not _ADOPTING.get():
        out = out.copy()  # the caller's array: a later write of theirs must not reach us
    out.flags.writeable = False
    return out


@contextlib.contextmanager
def _adopting() -> Iterator[None]:
    """`Journeys` built inside take their arrays as they are, without copies.

    Only for callers that made the arrays for the journeys and drop them: a copy of a
    touch-sized array costs fresh pages, as long as parsing the paths at 5M journeys.
    """
    token = _ADOPTING.set(True)
    try:
        yield
    finally:
        _ADOPTING.reset(token)


class Journeys:
    """Marketing journeys held as columns, ready for every attribution model.

    A journey is the ordered touches (channel exposures) that led to one
    conversion, or that led nowhere (a non-converting journey). Journeys are stored
    vectorised: one integer channel code per touch, journeys concatenated, with
    ``offsets`` marking where each record starts. A *record* is either one journey
    (built from an event log) or one row of an aggregated path table, in which
    case ``conversions`` and ``nulls`` count how many journeys share that path.

    Build them with `Journeys.from_events` (an event log) or `Journeys.from_paths`
    (an aggregated path table); the constructor is for readers of other sources.

    Parameters
    ----------
    channels : sequence of str
        Channel names; touch codes index into it.
    codes : array of int
        Channel code of every touch, records concatenated, in journey order.
    offsets : array of int
        Length ``n_records + 1``; record ``i`` has touches ``offsets[i]:offsets[i+1]``.
        Every record has at least one touch.
    conversions, value, nulls : array of float
        Per record: converting journeys, their total conversion value, and
        non-converting journeys.
    times : array of datetime64[ns], optional
        Timestamp of every touch (UTC); absent for path tables.
    conversion_times : array of datetime64[ns], optional
        Per record: the conversion time, or the last touch of a non-converting journey.
    attributes : DataFrame, optional
        Per-record attributes (user, offline flag, extra event columns at the
        journey's first touch), one row per record.
    unattributed_conversions, unattributed_value : float
        Conversions (and their value) with no touch in their window; they are
        reported by models but never credited to a channel.
    window : tuple of Timestamp, optional
        First and last event timestamps of the input.
    lookback : Timedelta, optional
        The lookback window the journeys were built with.
    metadata : mapping, optional
        Facts about how the journeys were built that results should carry, e.g.
        ``{"channel_rule_set": "ga4_default_2026_11"}`` when channels come from a
        channel grouping (`causality.channels`). Kept by `take` and `by_path`.

    Examples
    --------
    >>> import causality as ca
    >>> journeys = ca.Journeys.from_paths(
    ...     pd.DataFrame({"path": ["Email > Search", "Search"], "conversions": [3, 1],
    ...                   "nulls": [5, 9]}))
    >>> journeys.channels
    ('Email', 'Search')
    >>> len(journeys)
    18
    """

    def __init__(
        self,
        *,
        channels: Sequence[str],
        codes: np.ndarray,
        offsets: np.ndarray,
        conversions: np.ndarray,
        value: np.ndarray,
        nulls: np.ndarray,
        times: np.ndarray | None = None,
        conversion_times: np.ndarray | None = None,
        attributes: pd.DataFrame | None = None,
        unattributed_conversions: float = 0.0,
        unattributed_value: float = 0.0,
        window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
        lookback: pd.Timedelta | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self._channels = tuple(str(c) for c in channels)
        self._codes = _frozen(codes, np.int32)
        self._offsets = _frozen(offsets, np.int64)
        self._conversions = _frozen(conversions, np.float64)
        self._value = _frozen(value, np.float64)
        self._nulls = _frozen(nulls, np.float64)
        self._times = _frozen(times, "datetime64[ns]")
        self._conversion_times = _frozen(conversion_times, "datetime64[ns]")
        self._attributes = attributes.reset_index(drop=True) if attributes is not None else None
        self.unattributed_conversions = float(unattributed_conversions)
        self.unattributed_value = float(unattributed_value)
        self.window = window
        self.lookback = lookback
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._cache: dict[str, Any] = {}
        self._grouped = False  # see `_as_grouped`
        n = len(self._offsets) - 1
        if not (len(self._conversions) == len(self._value) == len(self._nulls) == n):
            raise ConfigurationError("conversions, value and nulls need one entry per record")
        if n and np.any(np.diff(self._offsets) < 1):
            raise ConfigurationError("every record needs at least one touch")

    @classmethod
    def from_events(
        cls,
        events: pd.DataFrame | Any,
        *,
        user: str = "user_id",
        anonymous: str = "anonymous_id",
        timestamp: str = "timestamp",
        event_type: str = "event_type",
        channel: str = "channel",
        value: str = "value",
        offline: str = "offline",
        lookback: str | pd.Timedelta | None = "30D",
        conversion_types: Sequence[str] = ("conversion",),
        touch_types: Sequence[str] = ("touch",),
    ) -> Journeys:
        """Build journeys from a long event log, one row per event.

        Parameters
        ----------
        events : DataFrame, path, pyarrow Table or DuckDB relation
            One row per event. Keywords map roles to column names. A Parquet/CSV path
            or glob, Arrow data or a DuckDB relation is built in DuckDB, out of core,
            with identical results (`causality.journeys.duckdb_events.journeys_from_duckdb`).
        user, anonymous : str
            User id and anonymous (cookie/device) id columns. Each event needs one of
            them; either column may be absent altogether. A row carrying both links
            them: every event of that anonymous id belongs to that user (the first
            user it was linked to; user ids are never merged).
        timestamp : str
            Event time: tz-aware (converted to UTC), naive (taken as UTC) or text
            (parsed; ISO 8601 is fastest). Numbers are refused (ambiguous unit).
        event_type : str
            ``"touch"`` (a marketing touchpoint; needs ``channel``) or a conversion
            type. Other types (``identify``, ``page_view``, ...) serve identity
            stitching only and are ignored, with a `DataWarning` giving their count
            (``identify``, ``alias`` and ``login`` are ignored silently).
        channel : str
            Channel of each touch; any non-empty string.
        value : str
            Revenue of each conversion, finite and >= 0; read on conversion rows only.
            When the column is absent every conversion is worth 1.0.
        offline : str
            Optional boolean column marking offline conversions (CRM, store, phone).
            They join journeys like any conversion and are flagged in `attributes`.
        lookback : str, Timedelta or None, default "30D"
            Touches older than this before the conversion are not part of its journey.
            None keeps every touch since the previous conversion.
        conversion_types, touch_types : sequence of str
            Event types that count as conversions and as touches.

        Returns
        -------
        Journeys

        Notes
        -----
        A converting journey is the user's touches after their previous conversion
        and within ``lookback`` before this conversion. A conversion with no such
        touch is *unattributed*: counted in ``unattributed_conversions``, never
        credited to a channel. A non-converting journey is the user's touches after
        their last conversion, within ``lookback`` before the last such touch.
        Touches in no window are dropped. Events are ordered by time; events with
        equal timestamps keep their input order (a stable sort), so a touch logged
        after a conversion at the same instant belongs to the next journey. Extra
        columns are kept per journey in `attributes` (the value at the journey's
        first touch inside the window), next to ``user`` and ``offline``. ``window``
        spans the input's touch and conversion events. A column name passed
        explicitly (``value="revenue"``) must exist; under its default name an
        optional column may be absent.

        Raises
        ------
        JourneyValidationError
            Missing columns, unparseable timestamps, touches without a channel,
            missing, negative or non-finite conversion values, events without any id,
            an empty frame, or no conversions at all. The message names the column,
            counts the offending rows, shows the first few and says how to fix it.

        Examples
        --------
        >>> import causality as ca
        >>> events = ca.datasets.load_example()
        >>> journeys = ca.Journeys.from_events(events, lookback="30D")
        >>> journeys.channels[:3]
        ('Affiliates', 'Direct', 'Display')
        """
        from causality.journeys.duckdb_source import is_source
        from causality.journeys.events import journeys_from_events

        build = journeys_from_events
        if not isinstance(events, pd.DataFrame) and is_source(events):
            from causality.journeys.duckdb_events import journeys_from_duckdb as build
        journeys = build(
            events,
            user=user,
            anonymous=anonymous,
            timestamp=timestamp,
            event_type=event_type,
            channel=channel,
            value=value,
            offline=offline,
            lookback=lookback,
            conversion_types=conversion_types,
            touch_types=touch_types,
        )
        # Readers that group channels by rules (GA4, `causality.channels`) name the rule
        # set in the frame's attrs; results record it so a credit table says which
        # grouping its channel names come from.
        rule_set = (getattr(events, "attrs", None) or {}).get("rule_set")
        if rule_set is not None:
            journeys.metadata["channel_rule_set"] = str(rule_set)
        return journeys

    @classmethod
    def from_paths(
        cls,
        df: pd.DataFrame,
        *,
        path: str = "path",
        conversions: str = "conversions",
        value: str | None = "value",
        nulls: str | None = "nulls",
        sep: str = DEFAULT_SEP,
    ) -> Journeys:
        """Build journeys from an aggregated path table.

        This is the table ChannelAttribution and most tutorials use: one row per
        path with its converting and non-converting journey counts.

        Parameters
        ----------
        df : DataFrame
            One row per path; a path may repeat (rows are summed by models).
        path : str
            Channels joined by ``sep``, in touch order. Blank segments are skipped;
            a row with an empty path counts as unattributed conversions.
        conversions : str
            Converting journeys of the path (>= 0; fractions allowed).
        value : str or None
            Conversion value of the path; absent means 1.0 per conversion.
        nulls : str or None
            Non-converting journeys of the path; absent means 0.
        sep : str, default " > "
            Separator between channels in ``path``.

        Returns
        -------
        Journeys
            Without timestamps: models that need time (``time_decay``) refuse it.

        Notes
        -----
        Arrow splits the path strings, in pieces of 131,072 rows on as many threads as
        `pyarrow.cpu_count` (``pyarrow.set_cpu_count(1)`` keeps it on one core). Path
        columns pandas 3 reads by default (Arrow-backed strings) are split where they
        lie; a column of Python strings is converted to Arrow first, which takes about
        as long as splitting it.

        Examples
        --------
        >>> import causality as ca
        >>> table = pd.read_csv("Data.csv", sep=";")  # doctest: +SKIP
        >>> journeys = ca.Journeys.from_paths(  # doctest: +SKIP
        ...     table, conversions="total_conversions", value="total_conversion_value",
        ...     nulls="total_null")
        """
        from causality.journeys.paths import journeys_from_paths

        return journeys_from_paths(
            df, path=path, conversions=conversions, value=value, nulls=nulls, sep=sep
        )

    # -- sizes and totals -------------------------------------------------------
    @property
    def channels(self) -> tuple[str, ...]:
        """Channel names, sorted; a touch's code indexes into this tuple."""
        return self._channels

    def __len__(self) -> int:
        """Number of journeys, converting and not."""
        return round(float(self._conversions.sum() + self._nulls.sum()))

    @property
    def n_records(self) -> int:
        """Number of stored records (journeys, or distinct rows of a path table)."""
        return len(self._offsets) - 1

    @property
    def n_touches(self) -> int:
        """Number of stored touches across all records."""
        return len(self._codes)

    @property
    def total_conversions(self) -> float:
        """Conversions of journeys with at least one touch: what allocation credit sums to."""
        return float(self._conversions.sum())

    @property
    def total_value(self) -> float:
        """Conversion value of journeys with at least one touch."""
        return float(self._value.sum())

    @property
    def has_timestamps(self) -> bool:
        """Whether touch timestamps are known (event logs: yes; path tables: no)."""
        return self._times is not None

    # -- columnar access for models ----------------------------------------------
    @property
    def codes(self) -> np.ndarray:
        """Channel code of every touch (read-only)."""
        return self._codes

    @property
    def offsets(self) -> np.ndarray:
        """Record boundaries into `codes` (read-only, length ``n_records + 1``)."""
        return self._offsets

    @property
    def lengths(self) -> np.ndarray:
        """Number of touches per record."""
        return np.diff(self._offsets)

    @property
    def conversions(self) -> np.ndarray:
        """Converting journeys per record (read-only)."""
        return self._conversions

    @property
    def value(self) -> np.ndarray:
        """Conversion value per record (read-only)."""
        return self._value

    @property
    def nulls(self) -> np.ndarray:
        """Non-converting journeys per record (read-only)."""
        return self._nulls

    @property
    def times(self) -> np.ndarray | None:
        """Touch timestamps (``datetime64[ns]``, UTC) or None for path tables."""
        return self._times

    @property
    def conversion_times(self) -> np.ndarray | None:
        """Per record, the conversion time (or last touch of a non-converting journey)."""
        return self._conversion_times

    @property
    def attributes(self) -> pd.DataFrame | None:
        """Per-record attributes kept from the event log, or None."""
        return self._attributes

    def cached(self, key: Any, factory: Callable[[], Any]) -> Any:
        """Return ``factory()``, computed once per key for these (immutable) journeys.

        Models use it to keep derived statistics (credit fractions, transition
        counts) between the point estimate and the bootstrap batches.
        """
        if key not in self._cache:
            self._cache[key] = factory()
        return self._cache[key]

    def _as_grouped(self) -> Journeys:
        """Mark these journeys as merged by path already: `by_path` returns them as they are.

        For tables built merged, in the order `by_path` would give (the API's path
        tables). A flag rather than a cache entry holding ``self``: that reference cycle
        kept every such table, and what models derived from it, alive until the cyclic
        garbage collector ran (a server updating a 10M-event table grew by 1.4 GB in 12
        updates).
        """
        self._grouped = True
        return self

    def record_of_touch(self) -> np.ndarray:
        """Record index of every touch."""
        return np.repeat(np.arange(self.n_records, dtype=np.int64), self.lengths)

    def position_of_touch(self) -> np.ndarray:
        """Zero-based position of every touch inside its record."""
        return np.arange(self.n_touches, dtype=np.int64) - np.repeat(
            self._offsets[:-1], self.lengths
        )

    # -- derived forms ------------------------------------------------------------
    def take(self, records: np.ndarray) -> Journeys:
        """A new `Journeys` with only the given records (a boolean mask or indices)."""
        records = np.asarray(records)
        if records.dtype == bool:
            records = np.flatnonzero(records)
        lengths = self.lengths[records]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        touch_index = np.repeat(self._offsets[:-1][records], lengths) + (
            np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths)
        )
        return Journeys(
            channels=self._channels,
            codes=self._codes[touch_index],
            offsets=offsets,
            conversions=self._conversions[records],
            value=self._value[records],
            nulls=self._nulls[records],
            times=None if self._times is None else self._times[touch_index],
            conversion_times=(
                None if self._conversion_times is None else self._conversion_times[records]
            ),
            attributes=None if self._attributes is None else self._attributes.iloc[records],
            unattributed_conversions=self.unattributed_conversions,
            unattributed_value=self.unattributed_value,
            window=self.window,
            lookback=self.lookback,
            metadata=self.metadata,
        )

    def by_path(self) -> Journeys:
        """Records merged by identical channel sequence (timestamps and attributes dropped).

        The result is cached; its record order does not depend on input row order.
        """
        if self._grouped:
            return self
        if "by_path" not in self._cache:
            ids, n_groups = path_group_ids(self._codes, self._offsets)
            first = np.full(n_groups, -1, dtype=np.int64)
            # Any member of a group is a valid representative; take the last written.
            first[ids] = np.arange(self.n_records)
            rep = self.take(first)
            self._cache["by_path"] = Journeys(
                channels=self._channels,
                codes=rep.codes,
                offsets=rep.offsets,
                conversions=np.bincount(ids, self._conversions, minlength=n_groups),
                value=np.bincount(ids, self._value, minlength=n_groups),
                nulls=np.bincount(ids, self._nulls, minlength=n_groups),
                unattributed_conversions=self.unattributed_conversions,
                unattributed_value=self.unattributed_value,
                window=self.window,
                lookback=self.lookback,
                metadata=self.metadata,
            )
        return self._cache["by_path"]

    def paths(self, *, sep: str = DEFAULT_SEP, include_unattributed: bool = False) -> pd.DataFrame:
        """The aggregated path table: one row per distinct channel sequence.

        Parameters
        ----------
        sep : str, default " > "
            Separator between channel names in ``path``.
        include_unattributed : bool, default False
            Add one row with an empty ``path`` holding the unattributed conversions and
            their value (when there are any), so that `from_paths` reads them back:
            ``Journeys.from_paths(j.paths(include_unattributed=True))`` keeps every
            conversion. Off by default: tools such as ChannelAttribution would read an
            empty path as a channel.

        Returns
        -------
        DataFrame
            Columns ``path`` (str), ``conversions``, ``value``, ``nulls``, sorted by
            conversions then nulls, descending.

        Raises
        ------
        JourneyValidationError
            If a channel name contains ``sep``: the path could not be split back.
        """
        from causality.journeys.paths import join_paths

        grouped = self.by_path()
        frame = pd.DataFrame(
            {
                "path": join_paths(grouped, sep=sep),
                "conversions": grouped.conversions,
                "value": grouped.value,
                "nulls": grouped.nulls,
            }
        )
        if include_unattributed and self.unattributed_conversions > 0:
            unattributed = {
                "path": [""],
                "conversions": [self.unattributed_conversions],
                "value": [self.unattributed_value],
                "nulls": [0.0],
            }
            frame = pd.concat([frame, pd.DataFrame(unattributed)], ignore_index=True)
        return frame.sort_values(
            ["conversions", "nulls", "path"], ascending=[False, False, True], ignore_index=True
        )

    def __repr__(self) -> str:
        kind = "events" if self.has_timestamps else "path table"
        return (
            f"<Journeys: {len(self):,} journeys ({self.total_conversions:,.0f} converting, "
            f"{self.unattributed_conversions:,.0f} unattributed conversions), "
            f"{len(self._channels)} channels, {self.n_touches:,} touches, from {kind}>"
        )
