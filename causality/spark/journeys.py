"""Build `Journeys` from a PySpark DataFrame of events, with the cutting done by Spark.

Spark validates the events (the pandas path's rules, through the shared checks),
stitches identities with a grouped ``min_by``, numbers each person's journeys with a
running count of conversions over a window ordered by time, and groups the touches
of each journey into a sorted array. Only one row per journey reaches the driver,
as Arrow; the result equals the pandas and DuckDB paths on the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from causality.journeys.assemble import assemble_journeys
from causality.journeys.core import Journeys
from causality.journeys.event_checks import (
    CHECK_AGGREGATES,
    CHECK_GROUPS,
    CheckedEvents,
    check_groups,
    conflict_warning,
    null_aggregates,
    refuse_numeric_timestamps,
)
from causality.journeys.events import _check_columns
from causality.journeys.schema import EventSchema, build_options, extra_alias
from causality.journeys.stream import ANONYMOUS, USER
from causality.spark.columns import name, text, typed_columns


def import_pyspark() -> Any:
    """Import pyspark.sql.functions, or raise an ImportError naming the extra to install."""
    try:
        from pyspark.sql import functions
    except ImportError as error:
        raise ImportError(
            "journeys_from_spark needs pyspark. Install it with: pip install 'causality[spark]'"
        ) from error
    return functions


def journeys_from_spark(
    df: Any,
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
    """Build journeys from a PySpark DataFrame of events, computed on the cluster.

    Same event schema, keywords and rules as `Journeys.from_events`; the journeys
    equal those of the pandas path on the same rows, so every model gives the same
    answer. Spark does the heavy work (validation, identity stitching, windows per
    person); the driver receives one row per journey.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        One row per event.
    user, anonymous, timestamp, event_type, channel, value, offline, lookback, \
conversion_types, touch_types
        As in `Journeys.from_events`.

    Returns
    -------
    Journeys

    Notes
    -----
    Events with equal timestamps keep the DataFrame's order, as numbered by
    ``monotonically_increasing_id()`` (partition order, then row order): true for
    files and for ``createDataFrame``, not after an unordered shuffle. Spark keeps
    timestamps to the microsecond. ``TIMESTAMP`` columns are instants;
    ``TIMESTAMP_NTZ`` columns and text without an offset are read as UTC. The driver
    needs memory for the journeys (about 40 bytes per journey plus 12 per touch).

    Examples
    --------
    >>> from causality.spark import journeys_from_spark
    >>> events = spark.read.parquet("s3://bucket/events/")  # doctest: +SKIP
    >>> journeys = journeys_from_spark(events, lookback="30D")  # doctest: +SKIP
    >>> ca.attribute(journeys, "markov")  # doctest: +SKIP
    """
    functions = import_pyspark()
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
    _check_columns(pd.DataFrame(columns=list(df.columns)), options.roles)
    schema = options.schema({f.name: f.dataType.simpleString() for f in df.schema.fields})
    refuse_numeric_timestamps(schema)
    numbered = df.withColumn("__c_row", functions.monotonically_increasing_id())
    typed = numbered.selectExpr(*typed_columns(schema)).persist()
    try:
        checked = _check(typed, numbered, schema)
        if schema.user is not None and schema.anonymous is not None:
            conflict_warning(_conflicts(typed))
        journeys = _journeys(typed, schema, checked.channels, options.lookback_ns)
        built = _collect(journeys, schema)
    finally:
        typed.unpersist()
    return assemble_journeys(built, schema, checked, lookback=options.lookback)


def _check(typed: Any, numbered: Any, schema: EventSchema) -> CheckedEvents:
    """The shared checks, counted by one Spark aggregation."""
    null_counted = schema.null_counted()
    aggregates = (*CHECK_AGGREGATES, *null_aggregates(null_counted))
    groups = _to_arrow(
        typed.groupBy(*(_expr(sql).alias(alias) for alias, sql in CHECK_GROUPS)).agg(
            *(_expr(sql).alias(alias) for alias, sql in aggregates)
        )
    ).to_pandas()

    def fetch_rows(condition: str, show: tuple[str, ...]) -> pd.DataFrame:
        shown = _to_arrow(
            numbered.selectExpr(*typed_columns(schema, show=show))
            .where(condition)
            .orderBy("__c_row")
            .limit(5)
            .selectExpr("__c_row", *(f"__c_show{i} AS {name(c)}" for i, c in enumerate(show)))
        ).to_pandas()
        return shown.set_index("__c_row").rename_axis(None)

    return check_groups(groups, schema, null_counted, fetch_rows)


def _expr(sql: str) -> Any:
    return import_pyspark().expr(sql)


def _conflicts(typed: Any) -> int:
    functions = import_pyspark()
    linked = typed.where("__c_uid IS NOT NULL AND __c_aid IS NOT NULL")
    users = linked.groupBy("__c_aid").agg(functions.countDistinct("__c_uid").alias("users"))
    return users.where("users > 1").count()


def _journeys(typed: Any, schema: EventSchema, channels: list[str], lookback_ns: int | None) -> Any:
    """One row per journey: person, journey number, its sorted touches and its outcome."""
    from pyspark.sql import Window

    functions = import_pyspark()
    kept = typed.where("__c_touch OR __c_conv")
    if schema.user is not None and schema.anonymous is not None:
        # An anonymous id belongs to the first user it is linked to (by time, then row).
        owners = (
            typed.where("__c_uid IS NOT NULL AND __c_aid IS NOT NULL")
            .groupBy("__c_aid")
            .agg(_expr("min_by(__c_uid, struct(__c_t, __c_row)) AS __c_owner"))
        )
        kept = kept.join(owners, on="__c_aid", how="left")
        person = "coalesce(__c_uid, __c_owner)"
    else:
        person = "__c_uid"
    codes = ", ".join(f"{text(c)}, {i}" for i, c in enumerate(channels))
    code = f"coalesce(map({codes})[__c_channel], -1)" if channels else "-1"
    kept = kept.selectExpr(
        "*",
        f"{person} AS {USER}",
        f"CASE WHEN {person} IS NULL THEN __c_aid END AS {ANONYMOUS}",
        f"CASE WHEN __c_touch THEN CAST({code} AS INT) ELSE -1 END AS __c_code",
    )
    by_time = Window.partitionBy(USER, ANONYMOUS).orderBy("__c_t", "__c_row")
    before = by_time.rowsBetween(Window.unboundedPreceding, -1)
    conversions_before = functions.sum(functions.col("__c_conv").cast("int")).over(before)
    kept = kept.withColumn("__c_segment", functions.coalesce(conversions_before, functions.lit(0)))
    # A journey ends at its conversion, or at the person's last touch: its latest row.
    segment = Window.partitionBy(USER, ANONYMOUS, "__c_segment")
    kept = kept.withColumn("__c_end", functions.max("__c_t").over(segment))
    window = "" if lookback_ns is None else f" AND __c_t >= __c_end - {lookback_ns}"
    extras = "".join(f", {extra_alias(i)}" for i in range(len(schema.extras)))
    touch = f"CASE WHEN __c_touch{window} THEN struct(__c_t, __c_row, __c_code{extras}) END"
    return kept.groupBy(USER, ANONYMOUS, "__c_segment").agg(
        _expr(f"sort_array(collect_list({touch})) AS __c_touches"),
        _expr("bool_or(__c_conv) AS __c_converted"),
        _expr("max(CASE WHEN __c_conv THEN __c_value END) AS __c_value"),
        _expr("coalesce(bool_or(__c_conv AND __c_offline), false) AS __c_offline"),
        _expr("max(__c_t) AS __c_end"),
    )


def _collect(journeys: Any, schema: EventSchema) -> dict[str, Any]:
    """Bring the journeys to the driver, in the pandas path's order, as flat arrays."""
    import pyarrow.compute as pc

    journeys = journeys.persist()
    try:
        col = import_pyspark().col
        order = [col(USER).asc_nulls_last(), col(ANONYMOUS).asc_nulls_last(), col("__c_segment")]
        extras = [
            f"__c_touches[0].{extra_alias(i)} AS {extra_alias(i)}"
            for i in range(len(schema.extras))
        ]
        records = _to_arrow(
            journeys.where("size(__c_touches) > 0")
            .orderBy(*order)
            .selectExpr(
                USER,
                ANONYMOUS,
                "transform(__c_touches, x -> x.__c_t) AS times",
                "transform(__c_touches, x -> x.__c_code) AS codes",
                "__c_converted",
                "__c_value",
                "__c_offline",
                "__c_end",
                *extras,
            )
        )
        unattributed = _to_arrow(
            journeys.where("__c_converted AND size(__c_touches) = 0")
            .orderBy(*order)
            .select("__c_value")
        )
    finally:
        journeys.unpersist()
    times = records.column("times").combine_chunks()
    offsets = np.asarray(times.offsets, dtype=np.int64)
    converted = records.column("__c_converted").to_numpy(zero_copy_only=False).astype(bool)
    value = pc.fill_null(records.column("__c_value"), 0.0).to_numpy(zero_copy_only=False)
    keep = [USER, ANONYMOUS, *(extra_alias(i) for i in range(len(schema.extras)))]
    return {
        "codes": _flat(records.column("codes"), np.int32),
        "times": _flat(times, np.int64),
        "offsets": offsets - offsets[0],
        "converted": converted,
        "value": np.where(converted, value, 0.0),
        "conversion_times": records.column("__c_end").to_numpy(zero_copy_only=False),
        "offline": records.column("__c_offline").to_numpy(zero_copy_only=False).astype(bool),
        "first_rows": records.select(keep),
        "unattributed": unattributed.column("__c_value").to_numpy(zero_copy_only=False),
    }


def _flat(column: Any, dtype: Any) -> np.ndarray:
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return np.asarray(column.flatten().to_numpy(zero_copy_only=False), dtype=dtype)


def _to_arrow(frame: Any) -> Any:
    """A Spark DataFrame as a pyarrow Table (``toArrow`` from Spark 4; pandas before)."""
    import pyarrow as pa

    if hasattr(frame, "toArrow"):
        return frame.toArrow()
    return pa.Table.from_pandas(frame.toPandas(), preserve_index=False)
