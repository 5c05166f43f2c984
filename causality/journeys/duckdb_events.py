"""Build `Journeys` in DuckDB from event logs too large for pandas.

`Journeys.from_events` sends Parquet/CSV paths and globs, pyarrow Tables and
datasets, and DuckDB relations here. DuckDB validates the log, stitches identities
and sorts the touch and conversion rows by person and time, spilling to disk when
they exceed its memory limit; the sorted rows stream back as Arrow batches and are
cut into journeys batch by batch (`causality.journeys.stream`). The result is
identical to the pandas path on the same rows: same records in the same order,
same codes, times, counts, values, attributes and unattributed totals.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pandas as pd

from causality._progress import progress_bar
from causality.errors import ConfigurationError
from causality.journeys.assemble import assemble_journeys
from causality.journeys.core import Journeys
from causality.journeys.duckdb_source import arrow_batches, import_duckdb, open_source, query
from causality.journeys.duckdb_sql import (
    checks_query,
    conflicts_query,
    offending_rows_query,
    sorted_events_query,
)
from causality.journeys.event_checks import (
    CheckedEvents,
    check_groups,
    conflict_warning,
    refuse_numeric_timestamps,
)
from causality.journeys.events import _check_columns, journeys_from_events
from causality.journeys.schema import EventSchema, build_options, extra_alias
from causality.journeys.stream import cut_journeys


def journeys_from_duckdb(
    source: Any,
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
    memory_limit: str | None = None,
    temp_directory: str | os.PathLike | None = None,
    threads: int | None = None,
    batch_size: int = 1_000_000,
    progress: bool | None = None,
) -> Journeys:
    """Build journeys from events in files, Arrow data or DuckDB, with DuckDB doing the work.

    `Journeys.from_events` calls this for every source that is not a pandas
    DataFrame; call it directly to set the engine's resources. The journeys equal
    those of the pandas path on the same rows (see `Journeys.from_events` for the
    rules), so every model gives the same answer.

    Parameters
    ----------
    source : str, Path, pyarrow.Table, pyarrow dataset or DuckDB relation
        A Parquet or CSV file, a glob (``"events/*.parquet"``, files read in name
        order), a folder of Parquet files, Arrow data, or a DuckDB relation (run on
        its own connection, with that connection's settings).
    user, anonymous, timestamp, event_type, channel, value, offline, lookback, \
conversion_types, touch_types
        As in `Journeys.from_events`.
    memory_limit : str, optional
        DuckDB's memory cap, e.g. ``"4GB"``; beyond it, sorts spill to disk. Default:
        ``$CAUSALITY_DUCKDB_MEMORY_LIMIT``, else half the machine's memory.
    temp_directory : str or Path, optional
        Where DuckDB spills. Default: ``$CAUSALITY_DUCKDB_TEMP_DIRECTORY``, else a new
        temporary folder removed afterwards.
    threads : int, optional
        DuckDB worker threads; default one per core.
    batch_size : int, default 1,000,000
        Rows per Arrow batch streamed back from DuckDB.
    progress : bool, optional
        Show a progress bar over the sorted rows; default: when someone is watching.

    Returns
    -------
    Journeys

    Notes
    -----
    Events with equal timestamps keep their input order: file order, then row order,
    for files and Arrow data; for a DuckDB relation, the order it yields rows in.
    Text timestamps must be ISO 8601 (pandas also parses other formats). A
    pyarrow Table without duckdb installed goes through pandas instead, which needs
    it to fit in memory; files and relations need duckdb (extra ``duckdb``).
    Dictionary-encoded extra columns come back as plain values, not categoricals.

    Examples
    --------
    >>> import pyarrow as pa
    >>> import causality as ca
    >>> table = pa.Table.from_pandas(ca.datasets.load_example(), preserve_index=False)
    >>> journeys = ca.Journeys.from_events(table, lookback="30D")
    >>> journeys.channels[:3]
    ('Affiliates', 'Direct', 'Display')
    """
    options = build_options(
        lookback=lookback,
        conversion_types=conversion_types,
        touch_types=touch_types,
        user=user,
        anonymous=anonymous,
        timestamp=timestamp,
        event_type=event_type,
        channel=channel,
        value=value,
        offline=offline,
    )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigurationError(f"batch_size must be a positive integer; got {batch_size!r}")
    if _arrow_without_duckdb(source):
        # Documented fallback: Arrow data that fits in memory goes through pandas.
        frame = (source if hasattr(source, "to_pandas") else source.to_table()).to_pandas()
        return journeys_from_events(
            frame,
            lookback=options.lookback,
            conversion_types=options.conversion_types,
            touch_types=options.touch_types,
            **options.roles,
        )
    settings = {"memory_limit": memory_limit, "temp_directory": temp_directory, "threads": threads}
    with open_source(source, **settings) as opened:
        columns = [str(c) for c in opened.relation.columns]
        _check_columns(pd.DataFrame(columns=columns), options.roles)
        schema = options.schema(
            dict(zip(columns, (str(t) for t in opened.relation.types), strict=True))
        )
        checked = _check(opened, schema)
        if schema.user is not None and schema.anonymous is not None:
            conflict_warning(int(query(opened, conflicts_query(schema)).fetchall()[0][0]))
        stream = query(opened, sorted_events_query(schema, checked.channels))
        aliases = [extra_alias(i) for i in range(len(schema.extras))]
        with progress_bar(checked.n_kept, "events to journeys", progress) as bar:
            batches = arrow_batches(stream, batch_size)
            parts = cut_journeys(batches, options.lookback_ns, aliases, bar)
        arrow_schema = opened.arrow_schema
    return assemble_journeys(
        parts.finish(), schema, checked, lookback=options.lookback, arrow_schema=arrow_schema
    )


def _arrow_without_duckdb(source: Any) -> bool:
    """Arrow data (a table, record batch or dataset) while duckdb is not installed."""
    if not (type(source).__module__ or "").startswith("pyarrow"):
        return False
    if not (hasattr(source, "to_pandas") or hasattr(source, "to_table")):
        return False  # not a whole table (an array, a reader): refused by open_source
    try:
        import_duckdb()
    except ImportError:
        return True
    return False


def _check(opened: Any, schema: EventSchema) -> CheckedEvents:
    """Validate in one grouped scan; fetch offending rows only for the error raised."""
    refuse_numeric_timestamps(schema)
    null_counted = schema.null_counted()

    def fetch_rows(condition: str, show: tuple[str, ...]) -> pd.DataFrame:
        rows = query(opened, offending_rows_query(schema, condition, show)).df()
        return rows.set_index("__c_index").rename_axis(None)

    groups = query(opened, checks_query(schema, null_counted)).df()
    return check_groups(groups, schema, null_counted, fetch_rows)
