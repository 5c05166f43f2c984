"""The export columns the reader needs, and the unit it reads them in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

_S, _F = pa.string(), pa.float64()
_COLLECTED = ("manual_source", "manual_medium", "manual_campaign_name", "gclid", "dclid", "srsltid")


def needed_schema(ints_as_text: bool) -> pa.Schema:
    """The columns the reader uses, with INT64 fields as text when the file writes them so.

    Parsers keep only these columns (and struct fields), so the rest of a GA4 row (items,
    device details, user properties...) is skipped while parsing.
    """
    i = _S if ints_as_text else pa.int64()
    value = pa.struct(
        [("string_value", _S), ("int_value", i), ("float_value", _F), ("double_value", _F)]
    )
    last_click = pa.struct([("source", _S), ("medium", _S), ("campaign_name", _S)])
    ecommerce = [("purchase_revenue", _F), ("purchase_revenue_in_usd", _F), ("transaction_id", _S)]
    return pa.schema(
        [
            ("event_timestamp", i),
            ("event_name", _S),
            ("event_bundle_sequence_id", i),
            ("user_id", _S),
            ("user_pseudo_id", _S),
            ("event_params", pa.list_(pa.struct([("key", _S), ("value", value)]))),
            ("traffic_source", pa.struct([("name", _S), ("medium", _S), ("source", _S)])),
            ("collected_traffic_source", pa.struct([(n, _S) for n in _COLLECTED])),
            ("session_traffic_source_last_click", pa.struct([("manual_campaign", last_click)])),
            ("ecommerce", pa.struct(ecommerce)),
            ("device", pa.struct([("category", _S)])),
            ("geo", pa.struct([("country", _S), ("region", _S)])),
        ]
    )


def ints_as_text(row: dict[str, Any]) -> bool:
    """Whether a file writes INT64 as JSON strings (BigQuery's JSON export does), by one row."""
    return isinstance(row.get("event_timestamp"), str)


@dataclass(frozen=True)
class Chunk:
    """A record batch of one source, and the 1-based number of its first row in the file."""

    batch: pa.RecordBatch
    first_row: int
