"""Pull the fields journeys need out of GA4 record batches, column-wise with pyarrow.

Works on whatever nesting a file has: a struct field or event parameter that is absent
reads as missing, and INT64 fields written as text are parsed. Errors name the file, the
row (1-based, in file order) and the field.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from causality.errors import JourneyValidationError

#: Click-id parameters, in the order one is chosen when a hit carries several.
CLICK_ID_PARAMS = ("gclid", "dclid", "gbraid", "wbraid", "msclkid", "fbclid", "srsltid")
_MIN_TIMESTAMP_US = 946_684_800_000_000  # 2000-01-01: earlier values are not microseconds


def extract_hits(
    batch: pa.RecordBatch, *, name: str, first_row: int, session_last_click: bool
) -> pa.Table:
    """One row per GA4 event: time, ids, session, traffic, revenue and covariates."""
    n = batch.num_rows
    params = _Params(batch)
    columns: dict[str, pa.Array] = {
        "timestamp_us": pa.array(_timestamps(batch, name, first_row)),
        "event_name": _required_text(batch, "event_name", name, first_row),
        "user_id": _text(_path(batch, "user_id"), n),
        "user_pseudo_id": _text(_path(batch, "user_pseudo_id"), n),
        "session_id": params.integer("ga_session_id", name, first_row),
    }
    columns.update(_traffic(batch, params, n, session_last_click))
    revenue = _number(_path(batch, "ecommerce.purchase_revenue"), n)
    columns["revenue"] = pc.coalesce(revenue, params.number("value"))
    columns["revenue_in_usd"] = _number(_path(batch, "ecommerce.purchase_revenue_in_usd"), n)
    columns["transaction_id"] = _text(_path(batch, "ecommerce.transaction_id"), n)
    columns["currency"] = params.text("currency")
    for out, path in (
        ("first_touch_source", "traffic_source.source"),
        ("first_touch_medium", "traffic_source.medium"),
        ("first_touch_campaign", "traffic_source.name"),
        ("device", "device.category"),
        ("country", "geo.country"),
        ("region", "geo.region"),
    ):
        columns[out] = _text(_path(batch, path), n)
    return pa.table(columns)


_TRAFFIC = ("source", "medium", "campaign", "click_id", "click_id_value")


def _traffic(
    batch: pa.RecordBatch, params: _Params, n: int, session_last_click: bool
) -> dict[str, pa.Array]:
    """Source, medium, campaign and click id of each hit, from one block of fields.

    Blocks, first with any value wins (fields are never mixed across blocks):
    ``collected_traffic_source`` (2023+ exports), event parameters, and, when asked, the
    session's last click (``session_traffic_source_last_click``).
    """
    cts = "collected_traffic_source."
    blocks = [
        (
            [
                _text(_path(batch, cts + f), n)
                for f in ("manual_source", "manual_medium", "manual_campaign_name")
            ],
            {k: _text(_path(batch, cts + k), n) for k in ("gclid", "dclid", "srsltid")},
        ),
        (
            [params.text(k) for k in ("source", "medium", "campaign")],
            {k: params.text(k) for k in CLICK_ID_PARAMS},
        ),
    ]
    if session_last_click:
        last = "session_traffic_source_last_click.manual_campaign."
        blocks.append(
            ([_text(_path(batch, last + f), n) for f in ("source", "medium", "campaign_name")], {})
        )
    out = dict.fromkeys(_TRAFFIC, pa.nulls(n, pa.string()))
    taken = np.zeros(n, dtype=bool)
    for fields, clicks in blocks:
        values = [*fields, *_first_click(clicks, n)]
        use = ~taken & np.logical_or.reduce([_valid(v) for v in values[:4]])
        if use.any():
            mask = pa.array(use)
            out = {k: pc.if_else(mask, v, out[k]) for k, v in zip(_TRAFFIC, values, strict=True)}
            taken |= use
    # Auto-tagged Google Ads hits may carry only a gclid; GA4 reports them as google / cpc.
    gclid = pc.fill_null(pc.equal(out["click_id"], "gclid"), False).to_numpy(zero_copy_only=False)
    only = pa.array(gclid & ~_valid(out["source"]) & ~_valid(out["medium"]))
    out["source"] = pc.if_else(only, "google", out["source"])
    out["medium"] = pc.if_else(only, "cpc", out["medium"])
    return out


def _first_click(clicks: dict[str, pa.Array], n: int) -> tuple[pa.Array, pa.Array]:
    """Name and value of the first click-id parameter present on each hit."""
    if not clicks:
        return pa.nulls(n, pa.string()), pa.nulls(n, pa.string())
    names = [
        pc.if_else(pc.is_valid(v), key, pa.scalar(None, pa.string())) for key, v in clicks.items()
    ]
    return pc.coalesce(*names), pc.coalesce(*clicks.values())


def _valid(array: pa.Array) -> np.ndarray:
    return pc.is_valid(array).to_numpy(zero_copy_only=False)


class _Params:
    """Typed lookups into the ``event_params`` key/value list of every row."""

    def __init__(self, batch: pa.RecordBatch) -> None:
        self.n = batch.num_rows
        self.keys: pa.Array | None = None
        column = _path(batch, "event_params")
        if column is None or not (
            pa.types.is_list(column.type) or pa.types.is_large_list(column.type)
        ):
            return
        flat = pc.list_flatten(column)
        self.parent = pc.list_parent_indices(column).to_numpy()
        self.keys = _text_array(_child(flat, "key"))
        if self.keys is None:
            return
        encoded = pc.dictionary_encode(self.keys)
        self._codes = encoded.indices.to_numpy(zero_copy_only=False)
        self._code = {k: i for i, k in enumerate(encoded.dictionary.to_pylist())}
        value = _child(flat, "value")
        slot = {
            f: _child(value, f)
            for f in ("string_value", "int_value", "double_value", "float_value")
        }
        # Each value field is converted once per batch; a key lookup is then a take.
        n_flat = len(self.keys)
        self.flat_text = _coalesce([_text_array(a) for a in slot.values()], n_flat, pa.string())
        self.flat_float = _coalesce(
            [_float_array(slot[f]) for f in ("double_value", "float_value", "int_value")],
            n_flat,
            pa.float64(),
        )

    def _take(self, key: str, flat_values: pa.Array, empty: pa.DataType) -> pa.Array:
        """Values of parameter ``key`` aligned to rows (null where absent)."""
        code = self._code.get(key) if self.keys is not None else None
        if code is None:
            return pa.nulls(self.n, empty)
        hit = np.flatnonzero(self._codes == code)
        where = np.full(self.n, -1, dtype=np.int64)
        where[self.parent[hit]] = hit  # a key repeated within a row: the last one wins
        return flat_values.take(pa.array(where, mask=where < 0))

    def text(self, key: str) -> pa.Array:
        """Parameter ``key`` as text (any value field); empty strings read as missing."""
        if self.keys is None:
            return pa.nulls(self.n, pa.string())
        merged = self._take(key, self.flat_text, pa.string())
        return pc.if_else(pc.equal(merged, ""), pa.scalar(None, pa.string()), merged)

    def number(self, key: str) -> pa.Array:
        """Parameter ``key`` as a float (double, float or int value field)."""
        if self.keys is None:
            return pa.nulls(self.n, pa.float64())
        return self._take(key, self.flat_float, pa.float64())

    def integer(self, key: str, name: str, first_row: int) -> pa.Array:
        """Parameter ``key`` as an integer; text that is no integer is an error."""
        text = self.text(key)
        try:
            return pc.cast(text, pa.int64())
        except pa.ArrowInvalid:
            parsed = pd.to_numeric(pd.Series(text.to_pandas(), dtype=object), errors="coerce")
            i = int(np.flatnonzero(_valid(text) & parsed.isna().to_numpy())[0])
            raise JourneyValidationError(
                f"{name}, row {first_row + i}, field 'event_params.{key}': {text[i].as_py()!r} "
                "is not an integer. Fix: correct or drop that row."
            ) from None


def _coalesce(parts: list[pa.Array | None], n: int, type_: pa.DataType) -> pa.Array:
    present = [p for p in parts if p is not None]
    return pc.coalesce(*present) if present else pa.nulls(n, type_)


def _path(batch: pa.RecordBatch, dotted: str) -> pa.Array | None:
    """The column at a dotted path (``ecommerce.transaction_id``), or None if absent."""
    head, *rest = dotted.split(".")
    if head not in batch.schema.names:
        return None
    array = batch.column(head)
    for part in rest:
        array = _child(array, part)
        if array is None:
            return None
    return array


def _child(array: pa.Array | None, field: str) -> pa.Array | None:
    if array is None or not pa.types.is_struct(array.type):
        return None
    if array.type.get_field_index(field) < 0:
        return None
    return pc.struct_field(array, field)  # null where the parent struct is null


def _text_array(array: pa.Array | None) -> pa.Array | None:
    if array is None or pa.types.is_null(array.type):
        return None
    return pc.cast(array, pa.string())


def _float_array(array: pa.Array | None) -> pa.Array | None:
    if array is None or pa.types.is_null(array.type):
        return None
    return pc.cast(array, pa.float64())


def _text(array: pa.Array | None, n: int) -> pa.Array:
    """Text column; empty strings read as missing."""
    text = _text_array(array)
    if text is None:
        return pa.nulls(n, pa.string())
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _number(array: pa.Array | None, n: int) -> pa.Array:
    values = _float_array(array)
    return pa.nulls(n, pa.float64()) if values is None else values


def _required_text(batch: pa.RecordBatch, field: str, name: str, first_row: int) -> pa.Array:
    out = _text(_path(batch, field), batch.num_rows)
    _fail_rows(~_valid(out), name, first_row, field, "is missing")
    return out


def _timestamps(batch: pa.RecordBatch, name: str, first_row: int) -> np.ndarray:
    raw = _path(batch, "event_timestamp")
    n = batch.num_rows
    if raw is None or pa.types.is_null(raw.type):
        _fail_rows(np.ones(n, dtype=bool), name, first_row, "event_timestamp", "is missing")
    if pa.types.is_integer(raw.type):
        missing = ~_valid(raw)
        micros = pc.fill_null(pc.cast(raw, pa.int64()), 0).to_numpy()
    else:  # BigQuery's JSON export writes INT64 as text
        values = pd.to_numeric(
            pd.Series(_text_array(raw).to_pandas(), dtype=object), errors="coerce"
        )
        missing = values.isna().to_numpy()
        micros = values.fillna(0).to_numpy(dtype=np.int64)
    _fail_rows(missing, name, first_row, "event_timestamp", "is missing or not an integer")
    _fail_rows(
        micros < _MIN_TIMESTAMP_US,
        name,
        first_row,
        "event_timestamp",
        "is before 2000-01-01 read as microseconds since 1970 (GA4's unit)",
    )
    return micros


def _fail_rows(bad: np.ndarray, name: str, first_row: int, field: str, problem: str) -> None:
    if bad.any():
        rows = np.flatnonzero(bad)[:5] + first_row
        raise JourneyValidationError(
            f"{name}, row {rows[0]}, field {field!r} {problem} ({int(bad.sum()):,} rows in this "
            f"batch; first rows {rows.tolist()}). Fix: correct or drop those rows."
        )


def event_ids(batch: pa.RecordBatch, rows: np.ndarray) -> np.ndarray:
    """sha256 ids of the given rows, from what identifies a GA4 event (export rows have none).

    The hashed text is ``user_pseudo_id|event_timestamp|event_name|event_bundle_sequence_id|
    params``, with ``params`` the event parameters as ``key=value`` sorted by key and joined
    by ``&`` (specs/api.md R-I-3), so importing a file twice yields the same ids.
    """
    sub = batch.take(pa.array(rows, pa.int64()))
    fields = ("user_pseudo_id", "event_timestamp", "event_name", "event_bundle_sequence_id")
    parts = [_text(_path(sub, f), len(rows)) for f in fields]
    joined = pc.binary_join_element_wise(
        *parts, _canonical_params(sub), "|", null_handling="replace", null_replacement=""
    )
    # hashlib has no vectorised form; this runs on kept rows only (touches, conversions).
    return np.array(
        [hashlib.sha256(t.encode()).hexdigest() for t in joined.to_pylist()], dtype=object
    )


def _canonical_params(sub: pa.RecordBatch) -> pa.Array:
    params = _Params(sub)
    if params.keys is None or not len(params.keys):
        return pa.nulls(sub.num_rows, pa.string())
    value = params.flat_text
    pairs = pc.binary_join_element_wise(
        params.keys, value, "=", null_handling="replace", null_replacement=""
    )
    table = pa.table({"row": params.parent, "key": params.keys, "pair": pairs})
    table = table.sort_by([("row", "ascending"), ("key", "ascending"), ("pair", "ascending")])
    counts = np.bincount(params.parent, minlength=sub.num_rows)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]), pa.int32())
    lists = pa.ListArray.from_arrays(offsets, table.column("pair").combine_chunks())
    return pc.binary_join(lists, "&")
