"""`iter_ga4` and `read_ga4`: GA4 BigQuery exports as event logs for `Journeys.from_events`."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

import numpy as np
import pandas as pd

from causality._progress import progress_bar
from causality._validation import check_count
from causality.channels import DEFAULT_RULE_SET, ChannelRules, load_rules
from causality.errors import ConfigurationError, DataWarning
from causality.io.ga4.events import (
    GA4Stats,
    Options,
    Seen,
    batch_events,
    empty_frame,
)
from causality.io.ga4.sources import FORMATS, Source, read_chunks, resolve

_KIND_ORDER = {"touch": 0, "identify": 1, "conversion": 2}  # ties at one time: touches first

GA4Source = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | IO[bytes]
RulesArg = str | os.PathLike[str] | Mapping[str, Any] | ChannelRules | None


class GA4Batches(Iterator[pd.DataFrame]):
    """Iterator of event frames from a GA4 export; see `iter_ga4`.

    Attributes
    ----------
    stats : GA4Stats
        Rows read, touches, conversions and duplicates so far.
    rule_set : str
        Id of the channel rule set used (also in each frame's ``attrs["rule_set"]``).
    """

    def __init__(self, sources: list[Source], options: Options) -> None:
        self.stats = GA4Stats()
        self.rule_set = options.rules.rule_set
        self._frames = _frames(sources, options, self.stats)

    def __next__(self) -> pd.DataFrame:
        return next(self._frames)


def iter_ga4(
    source: GA4Source,
    *,
    format: str = "auto",
    batch_rows: int = 50_000,
    rules: RulesArg = None,
    conversion_events: Sequence[str] = ("purchase",),
    revenue: str = "purchase_revenue",
    session_last_click: bool = False,
    progress: bool | None = None,
) -> GA4Batches:
    """Stream a GA4 BigQuery export as event frames, one per batch of export rows.

    Memory stays bounded by ``batch_rows`` export rows, plus one 8-byte key per kept touch,
    transaction id and id pair (to de-duplicate across batches); it does not grow with the
    file. Measured on NDJSON: about 130 MiB above the imports at ``batch_rows=5_000`` and
    250 MiB at ``50_000`` (pyarrow's JSON parser takes most of it). Parameters and the event
    schema are those of `read_ga4`; each frame carries ``attrs["rule_set"]``,
    ``attrs["file"]`` and ``attrs["rows_read"]`` (export rows behind it), and the returned
    iterator's ``stats`` count the whole import.

    Examples
    --------
    >>> import causality as ca, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> files = ca.simulate("clean", n_users=300, n_days=10, seed=0).to_ga4(folder, progress=False)
    >>> batches = ca.io.iter_ga4(folder, batch_rows=500, progress=False)
    >>> frames = list(batches)
    >>> batches.stats.conversions == sum(f["event_type"].eq("conversion").sum() for f in frames)
    True
    """
    if format not in FORMATS:
        raise ConfigurationError(f"format must be one of {list(FORMATS)}; got {format!r}")
    if revenue not in ("purchase_revenue", "purchase_revenue_in_usd"):
        raise ConfigurationError(
            f"revenue must be 'purchase_revenue' (local currency) or 'purchase_revenue_in_usd'; "
            f"got {revenue!r}"
        )
    names = [conversion_events] if isinstance(conversion_events, str) else conversion_events
    if not names or not all(isinstance(e, str) and e for e in names):
        raise ConfigurationError(
            f"conversion_events must name GA4 events, e.g. ('purchase',); got {conversion_events!r}"
        )
    options = Options(
        fmt=format,
        batch_rows=check_count("batch_rows", batch_rows, minimum=1),
        rules=load_rules(DEFAULT_RULE_SET if rules is None else rules),
        conversion_events=frozenset(names),
        revenue=revenue,
        session_last_click=bool(session_last_click),
        progress=progress,
    )
    return GA4Batches(resolve(source), options)


def read_ga4(
    source: GA4Source,
    *,
    format: str = "auto",
    batch_rows: int = 50_000,
    rules: RulesArg = None,
    conversion_events: Sequence[str] = ("purchase",),
    revenue: str = "purchase_revenue",
    session_last_click: bool = False,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Read a GA4 BigQuery export into the event log `Journeys.from_events` takes.

    Parameters
    ----------
    source : path, glob, folder, list of them, or binary file object
        ``events_YYYYMMDD`` tables exported as newline-delimited JSON, a JSON array,
        Parquet (each optionally gzipped), or the wrapper of the shared sample files.
        A folder reads its ``.json/.ndjson/.jsonl/.parquet/.gz`` files in name order.
    format : {"auto", "ndjson", "json", "parquet"}
        ``"auto"`` tells each file's format from its first bytes.
    batch_rows : int
        Export rows handled at a time (bounds memory; see `iter_ga4`).
    rules : str, path, mapping or ChannelRules, optional
        Channel rule set for the ``channel`` column (default: the GA4 default grouping,
        `causality.channels.DEFAULT_RULE_SET`).
    conversion_events : sequence of str
        Event names read as conversions (default ``("purchase",)``).
    revenue : {"purchase_revenue", "purchase_revenue_in_usd"}
        Which ``ecommerce`` field is the conversion value (local currency, or USD).
        Without it, a conversion takes its ``value`` event parameter (local currency
        only), else 0 (counted in ``stats.conversions_without_value``, with a warning).
    session_last_click : bool
        Also take a hit's traffic from ``session_traffic_source_last_click`` when neither
        ``collected_traffic_source`` nor event parameters have any. Off by default: GA4
        fills it on every event, carrying the last non-direct source into later direct
        sessions, which would add a touch per session.
    progress : bool, optional
        Progress bar over the bytes read; default: only when someone is watching.

    Returns
    -------
    DataFrame
        Columns `EVENT_COLUMNS`, sorted by time; ``attrs["rule_set"]`` names the channel
        rule set. Rows:

        * ``touch``: every hit with traffic information, from ``collected_traffic_source``
          (``manual_source``/``manual_medium``/``manual_campaign_name``, ``gclid``...), else
          the ``source``/``medium``/``campaign``/click-id event parameters. Hits carrying
          only a ``gclid`` read as ``google`` / ``cpc`` (GA4 auto-tagging). The same
          traffic within one session (``user_pseudo_id``, ``ga_session_id``) is one touch,
          at its first hit read. ``channel`` is the rule set's group.
        * ``conversion``: ``conversion_events`` hits, ``value`` their revenue. A repeated
          non-empty ``transaction_id`` (page reloads) counts once, as GA4 de-duplicates
          purchases: the first read is kept (the earliest within a batch; files are read
          in name order, so daily tables in date order). A purchase hit with traffic is
          a touch too, ordered just before it.
        * ``identify``: the first other hit of each (user_pseudo_id, user_id) pair, so
          `Journeys.from_events` can stitch identities.

        ``anonymous_id`` is ``user_pseudo_id``; ``timestamp`` is ``event_timestamp``
        (microseconds, UTC). Other events are dropped, as are rows without either id
        (consent-mode pings; warned). ``traffic_source`` is kept only as the user's first
        touch (``first_touch_*``), never as a session source. Tokens such as ``<Other>``,
        ``(data deleted)`` and ``(not set)`` are kept verbatim. ``event_id`` is a sha256
        of the event's identifying fields (`causality.io.ga4.fields.event_ids`).

    Raises
    ------
    JourneyValidationError
        A file that is missing, unreadable or malformed; the message names the file, the
        row (1-based, in file order) and the field.

    Examples
    --------
    >>> import causality as ca, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> sim = ca.simulate("clean", n_users=300, n_days=10, seed=0)
    >>> files = sim.to_ga4(folder, format="parquet", progress=False)
    >>> events = ca.io.read_ga4(folder, progress=False)
    >>> events.attrs["rule_set"]
    'ga4_default_2026_11'
    >>> int(events["event_type"].eq("conversion").sum()) == sim.total_conversions
    True
    """
    batches = iter_ga4(
        source,
        format=format,
        batch_rows=batch_rows,
        rules=rules,
        conversion_events=conversion_events,
        revenue=revenue,
        session_last_click=session_last_click,
        progress=progress,
    )
    frames = list(batches)
    out = pd.concat(frames, ignore_index=True) if frames else empty_frame()
    order = np.lexsort((out["event_type"].map(_KIND_ORDER).to_numpy(), out["timestamp"]))
    out = out.iloc[order].reset_index(drop=True)
    out.attrs = {"rule_set": batches.rule_set, **batches.stats.to_dict()}
    return out


def _frames(sources: list[Source], options: Options, stats: GA4Stats) -> Iterator[pd.DataFrame]:
    seen = Seen()
    sizes = [s.size for s in sources]
    total = sum(sizes) if None not in sizes else None
    with progress_bar(total, "GA4 import", options.progress) as bar:
        for source in sources:
            stats.files += 1
            done = 0
            for chunk, position in read_chunks(
                source, fmt=options.fmt, batch_rows=options.batch_rows
            ):
                stats.rows_read += chunk.batch.num_rows
                frame = batch_events(chunk, source.name, options, stats, seen)
                frame.attrs = {
                    "rule_set": options.rules.rule_set,
                    "file": source.name,
                    "rows_read": chunk.batch.num_rows,
                }
                if total is not None:
                    bar.update(position - done)
                    done = position
                yield frame
    if stats.conversions_without_value:
        warnings.warn(
            f"{stats.conversions_without_value:,} conversions had no "
            f"ecommerce.{options.revenue} and no 'value' parameter; their value is 0.",
            DataWarning,
            stacklevel=3,
        )
    if stats.rows_without_id:
        warnings.warn(
            f"dropped {stats.rows_without_id:,} GA4 rows with neither user_pseudo_id nor "
            "user_id (consent-mode pings cannot join a journey).",
            DataWarning,
            stacklevel=3,
        )
