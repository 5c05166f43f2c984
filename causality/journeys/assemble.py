"""Turn journeys cut by an engine (DuckDB, Spark) into `Journeys`, as the pandas path holds them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from causality.journeys.core import Journeys
from causality.journeys.event_checks import CheckedEvents
from causality.journeys.schema import EventSchema, extra_alias, type_family
from causality.journeys.stream import ANONYMOUS, USER


def assemble_journeys(
    built: dict[str, Any],
    schema: EventSchema,
    checked: CheckedEvents,
    *,
    lookback: pd.Timedelta | None,
    arrow_schema: Any = None,
) -> Journeys:
    """`Journeys` from concatenated parts (see `causality.journeys.stream.JourneyParts.finish`).

    ``arrow_schema`` is the source's Arrow schema, when known, so extra timestamp
    columns keep their unit and time zone.
    """
    converted = built["converted"]
    unattributed = built["unattributed"]
    attributes = _attributes(built["first_rows"], built["offline"], schema, checked, arrow_schema)
    return Journeys(
        channels=checked.channels,
        codes=built["codes"],
        offsets=built["offsets"],
        conversions=converted.astype(np.float64),
        value=built["value"],
        nulls=(~converted).astype(np.float64),
        times=built["times"].view("datetime64[ns]"),
        conversion_times=built["conversion_times"].view("datetime64[ns]"),
        attributes=attributes,
        unattributed_conversions=float(len(unattributed)),
        # One sum over all of them, in journey order, rounds as the pandas path does.
        unattributed_value=float(unattributed.sum()),
        window=checked.window,
        lookback=lookback,
    )


def _labels(first_rows: Any) -> Any:
    """The person of every journey: its user id, else its anonymous id (as pandas holds them)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = first_rows.num_rows
    users, anons = first_rows.column(USER), first_rows.column(ANONYMOUS)
    if n == 0:
        return np.zeros(0, dtype=object)
    if anons.null_count == n:
        labels = users
    elif users.null_count == n:
        labels = anons
    elif users.type == anons.type:
        labels = pc.coalesce(users, anons)
    else:  # e.g. integer user ids and text anonymous ids: a column of mixed objects
        user_values = np.asarray(users.to_numpy(zero_copy_only=False), dtype=object)
        anon_values = np.asarray(anons.to_numpy(zero_copy_only=False), dtype=object)
        return np.where(pd.isna(user_values), anon_values, user_values)
    if pa.types.is_string(labels.type) or pa.types.is_large_string(labels.type):
        # pandas stores a column of str objects as its string dtype (pandas 3) or as objects
        # (pandas 2); Arrow's conversion does the same, without a Python object per journey.
        return labels.to_pandas()
    return np.asarray(labels.to_numpy(zero_copy_only=False), dtype=object)


def _attributes(
    first_rows: Any,
    offline: np.ndarray,
    schema: EventSchema,
    checked: CheckedEvents,
    arrow_schema: Any,
) -> pd.DataFrame:
    """Per-journey attributes: the user, the offline flag and every extra column."""
    attributes = pd.DataFrame({"user": _labels(first_rows), "offline": offline})
    if not schema.extras:
        return attributes
    columns = {}
    for i, name in enumerate(schema.extras):
        column = first_rows.column(extra_alias(i))
        source_type = arrow_schema.field(name).type if arrow_schema is not None else None
        if source_type is not None and _is_timestamp(source_type) and column.type != source_type:
            column = column.cast(source_type)  # keep the source's unit and time zone
        series = column.to_pandas()
        # pandas turns a whole column with NULLs into floats (integers) or objects (booleans).
        if checked.extra_nulls.get(i):
            family = type_family(schema.types[name])
            series = series.astype(np.float64 if family == "integer" else object)
        columns[f"{name}_attribute" if name in attributes.columns else name] = series
    return pd.concat([attributes, pd.DataFrame(columns)], axis=1)


def _is_timestamp(arrow_type: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_timestamp(arrow_type)
