"""Spark SQL expressions that read each event-log role as the pandas path does.

They produce the same internal columns as the DuckDB path (`causality.journeys.duckdb_sql`):
``__c_t`` (UTC nanoseconds), ``__c_kind``, ``__c_touch``, ``__c_conv``, ``__c_uid``,
``__c_aid``, ``__c_channel``, ``__c_value`` and its problem flags, ``__c_offline`` and
its problem flag, and the extra columns as ``__c_x0``, ... so that the shared checks
(`causality.journeys.event_checks`) run on either engine.
"""

from __future__ import annotations

from collections.abc import Sequence

from causality.journeys.schema import EventSchema, extra_alias

# Whitespace as Python's str.strip() sees it (Java regex): blank ids and channels are missing.
_BLANK = r"'^[\\s\\x{1c}-\\x{1f}\\x{85}\\p{Z}]*$'"
_OFFSET = r"'([Zz]|[+-]\\d\\d(:?\\d\\d)?)$'"
_TRUE_WORDS = ("true", "1", "1.0", "yes", "t")
_FALSE_WORDS = ("false", "0", "0.0", "no", "f")
_EPOCH_NTZ = "TIMESTAMP_NTZ'1970-01-01 00:00:00'"


def name(column: str) -> str:
    """A Spark SQL identifier for any column name."""
    return "`" + column.replace("`", "``") + "`"


def text(value: str) -> str:
    """A Spark SQL string literal (backslash escapes, as Spark's parser reads them)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _in_list(values: Sequence[str]) -> str:
    return "(" + ", ".join(text(v) for v in sorted(values)) + ")"


def _id(schema: EventSchema, column: str | None) -> str:
    if column is None:
        return "CAST(NULL AS STRING)"
    col = name(column)
    family = schema.family(column)
    if family == "text":
        return f"CASE WHEN {col} RLIKE {_BLANK} THEN NULL ELSE {col} END"
    if family == "float":
        return f"CASE WHEN isnan({col}) THEN NULL ELSE {col} END"
    return col


def _timestamp(schema: EventSchema) -> str:
    col = name(schema.timestamp)
    type_name = schema.types[schema.timestamp].lower()
    if type_name == "timestamp":  # an instant
        return f"unix_micros({col}) * 1000"
    if type_name == "timestamp_ntz":  # wall-clock time, read as UTC
        return f"timestampdiff(MICROSECOND, {_EPOCH_NTZ}, {col}) * 1000"
    if type_name == "date":
        return f"CAST(unix_date({col}) AS BIGINT) * 86400000000000"
    raw = f"trim(CAST({col} AS STRING))"
    instant = f"unix_micros(try_cast({raw} AS TIMESTAMP))"
    wall_clock = f"timestampdiff(MICROSECOND, {_EPOCH_NTZ}, try_cast({raw} AS TIMESTAMP_NTZ))"
    return f"CASE WHEN {raw} RLIKE {_OFFSET} THEN {instant} ELSE {wall_clock} END * 1000"


def _channel(schema: EventSchema) -> str:
    if schema.channel is None:
        return "CAST(NULL AS STRING)"
    col = name(schema.channel)
    if schema.family(schema.channel) == "float":
        return f"CASE WHEN isnan({col}) THEN NULL ELSE CAST({col} AS STRING) END"
    return f"CAST({col} AS STRING)"


def _value(schema: EventSchema) -> tuple[str, str, str]:
    if schema.value is None:
        return "CAST(1.0 AS DOUBLE)", "false", "false"
    col = name(schema.value)
    if schema.family(schema.value) in ("integer", "float", "number", "boolean"):
        number = f"CAST({col} AS DOUBLE)"
        return number, "false", f"({number} IS NULL OR isnan({number}))"
    number = f"try_cast({col} AS DOUBLE)"
    not_number = f"({col} IS NOT NULL AND ({number} IS NULL OR isnan({number})))"
    return number, not_number, f"({col} IS NULL)"


def _offline(schema: EventSchema) -> tuple[str, str]:
    if schema.offline is None:
        return "false", "false"
    col = name(schema.offline)
    family = schema.family(schema.offline)
    if family == "boolean":
        return f"coalesce({col}, false)", "false"
    raw = f"CAST({col} AS STRING)"
    if family == "float":
        raw = f"CASE WHEN isnan({col}) THEN NULL ELSE {raw} END"
    word = f"lower(regexp_replace({raw}, '^\\\\s+|\\\\s+$', ''))"
    flag = f"coalesce({word} IN {_in_list(_TRUE_WORDS)}, false)"
    bad = f"({word} IS NOT NULL AND {word} NOT IN {_in_list(_TRUE_WORDS + _FALSE_WORDS)})"
    return flag, bad


def typed_columns(schema: EventSchema, *, show: Sequence[str] = ()) -> list[str]:
    """SELECT expressions over the events plus ``__c_row`` (their input order).

    ``show`` adds raw columns (as ``__c_show0``, ...) for error messages.
    """
    value, value_not_number, value_missing = _value(schema)
    offline, offline_bad = _offline(schema)
    kind = f"CAST({name(schema.event_type)} AS STRING)"
    return [
        "__c_row",
        f"{name(schema.timestamp)} IS NULL AS __c_ts_null",
        f"{_timestamp(schema)} AS __c_t",
        f"{kind} AS __c_kind",
        f"coalesce({kind} IN {_in_list(schema.touch_types)}, false) AS __c_touch",
        f"coalesce({kind} IN {_in_list(schema.conversion_types)}, false) AS __c_conv",
        f"{_id(schema, schema.user)} AS __c_uid",
        f"{_id(schema, schema.anonymous)} AS __c_aid",
        f"{_channel(schema)} AS __c_channel",
        f"{value} AS __c_value",
        f"{value_not_number} AS __c_value_not_number",
        f"{value_missing} AS __c_value_missing",
        f"{offline} AS __c_offline",
        f"{offline_bad} AS __c_offline_bad",
        *(f"{name(c)} AS {extra_alias(i)}" for i, c in enumerate(schema.extras)),
        *(f"{name(c)} AS __c_show{i}" for i, c in enumerate(show)),
    ]
