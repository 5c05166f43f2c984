"""SQL text for building journeys in DuckDB, one expression per event-log role.

`typed_events` normalises the raw columns the way the pandas path reads them
(`causality.journeys.events`): timestamps to UTC nanoseconds, blank ids to NULL,
conversion values to numbers, offline flags to booleans. The other queries read
that CTE: `checks_query` counts every validation problem in one scan, and
`sorted_events_query` stitches identities and streams the touch and conversion
rows ordered by person, then time, then input row, which is the order the
journey assembler (`causality.journeys.stream`) cuts into journeys.
"""

# Every name and text in the SQL below goes through quote() or literal().
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence

from causality.journeys.event_checks import CHECK_AGGREGATES, CHECK_GROUPS, null_aggregates
from causality.journeys.schema import EventSchema, extra_alias, literal, quote

#: Name of the events relation inside every query.
EVENTS = "__causality_events"

# Whitespace as Python's str.strip() sees it (RE2 syntax): blank ids and channels are missing.
_BLANK = r"[\s\x0b\x1c-\x1f\x85\p{Z}]*"
_TRUE_WORDS = ("true", "1", "1.0", "yes", "t")
_FALSE_WORDS = ("false", "0", "0.0", "no", "f")


def _in_list(values: Sequence[str]) -> str:
    return "(" + ", ".join(literal(v) for v in sorted(values)) + ")"


def _id_expression(schema: EventSchema, column: str | None) -> str:
    if column is None:
        return "CAST(NULL AS VARCHAR)"
    col = quote(column)
    family = schema.family(column)
    if family == "text":
        # Cheap tests first: only values starting with an unusual character meet the regex.
        return (
            f"CASE WHEN {col} = '' THEN NULL WHEN ascii({col}) BETWEEN 33 AND 126 THEN {col} "
            f"WHEN regexp_full_match({col}, '{_BLANK}') THEN NULL ELSE {col} END"
        )
    if family == "float":
        return f"CASE WHEN isnan({col}) THEN NULL ELSE {col} END"
    return col


def _timestamp_expression(schema: EventSchema) -> str:
    col = quote(schema.timestamp)
    family = schema.family(schema.timestamp)
    if family == "timestamp":
        return f"epoch_ns({col})"
    if family == "date":
        return f"epoch_ns(CAST({col} AS TIMESTAMP))"
    # Text: an explicit offset (or Z) names the instant; naive text is UTC, kept to the nanosecond.
    text = f"CAST({col} AS VARCHAR)"
    return (
        f"CASE WHEN regexp_matches(trim({text}), '([Zz]|[+-]\\d\\d(:?\\d\\d)?)$') "
        f"THEN epoch_ns(TRY_CAST(trim({text}) AS TIMESTAMPTZ)) "
        f"ELSE epoch_ns(TRY_CAST(trim({text}) AS TIMESTAMP_NS)) END"
    )


def _channel_expression(schema: EventSchema) -> str:
    if schema.channel is None:
        return "CAST(NULL AS VARCHAR)"
    col = quote(schema.channel)
    if schema.family(schema.channel) == "float":
        return f"CASE WHEN isnan({col}) THEN NULL ELSE CAST({col} AS VARCHAR) END"
    return f"CAST({col} AS VARCHAR)"


def _value_expressions(schema: EventSchema) -> tuple[str, str, str]:
    """The numeric value, "present but not a number", and "missing" (NULL or NaN)."""
    if schema.value is None:
        return "1.0::DOUBLE", "false", "false"
    col = quote(schema.value)
    family = schema.family(schema.value)
    if family in ("integer", "float", "number", "boolean"):
        number = f"CAST({col} AS DOUBLE)"
        return number, "false", f"({number} IS NULL OR isnan({number}))"
    number = f"TRY_CAST({col} AS DOUBLE)"
    # Text "nan" parses to NaN, which pandas' to_numeric also reports as not a number.
    not_number = f"({col} IS NOT NULL AND ({number} IS NULL OR isnan({number})))"
    return number, not_number, f"({col} IS NULL)"


def _offline_expressions(schema: EventSchema) -> tuple[str, str]:
    """The offline flag and "a value that is not a boolean word"."""
    if schema.offline is None:
        return "false", "false"
    col = quote(schema.offline)
    family = schema.family(schema.offline)
    if family == "boolean":
        return f"coalesce({col}, false)", "false"
    text = f"CAST({col} AS VARCHAR)"
    if family == "float":
        text = f"CASE WHEN isnan({col}) THEN NULL ELSE {text} END"
    word = f"lower(trim({text}, e' \\t\\n\\r\\x0b\\x0c'))"
    flag = f"coalesce({word} IN {_in_list(_TRUE_WORDS)}, false)"
    bad = f"({word} IS NOT NULL AND {word} NOT IN {_in_list(_TRUE_WORDS + _FALSE_WORDS)})"
    return flag, bad


def typed_events(schema: EventSchema, *, show: Sequence[str] = ()) -> str:
    """The CTE ``typed``: one normalised row per input event, numbered in input order.

    ``show`` adds raw columns (as ``__c_show0``, ...) for error messages.
    """
    value, value_not_number, value_missing = _value_expressions(schema)
    offline, offline_bad = _offline_expressions(schema)
    kind = f"CAST({quote(schema.event_type)} AS VARCHAR)"
    extras = "".join(f", {quote(name)} AS {extra_alias(i)}" for i, name in enumerate(schema.extras))
    extras += "".join(f", {quote(name)} AS __c_show{i}" for i, name in enumerate(show))
    return (
        "typed AS NOT MATERIALIZED (SELECT "
        # Input order breaks ties between equal timestamps, as the pandas path's stable sorts do.
        "row_number() OVER () AS __c_row, "
        f"{quote(schema.timestamp)} IS NULL AS __c_ts_null, "
        f"{_timestamp_expression(schema)} AS __c_t, "
        f"{kind} AS __c_kind, "
        f"coalesce({kind} IN {_in_list(schema.touch_types)}, false) AS __c_touch, "
        f"coalesce({kind} IN {_in_list(schema.conversion_types)}, false) AS __c_conv, "
        f"{_id_expression(schema, schema.user)} AS __c_uid, "
        f"{_id_expression(schema, schema.anonymous)} AS __c_aid, "
        f"{_channel_expression(schema)} AS __c_channel, "
        f"{value} AS __c_value, {value_not_number} AS __c_value_not_number, "
        f"{value_missing} AS __c_value_missing, "
        f"{offline} AS __c_offline, {offline_bad} AS __c_offline_bad"
        f"{extras} FROM {EVENTS})"
    )


def checks_query(schema: EventSchema, null_counted: Sequence[int]) -> str:
    """One scan counting every validation problem (`causality.journeys.event_checks`)."""
    aggregates = (*CHECK_AGGREGATES, *null_aggregates(list(null_counted)))
    select = ", ".join(f"{sql} AS {name}" for name, sql in (*CHECK_GROUPS, *aggregates))
    return f"WITH {typed_events(schema)} SELECT {select} FROM typed GROUP BY ALL"


def conflicts_query(schema: EventSchema) -> str:
    """Anonymous ids linked to more than one user id."""
    return (
        f"WITH {typed_events(schema)} SELECT count(*) FROM (SELECT __c_aid FROM typed "
        "WHERE __c_uid IS NOT NULL AND __c_aid IS NOT NULL GROUP BY __c_aid "
        "HAVING count(DISTINCT __c_uid) > 1)"
    )


def offending_rows_query(schema: EventSchema, condition: str, show: Sequence[str]) -> str:
    """The first rows (in input order) meeting ``condition``, with the raw columns to show."""
    shown = "".join(f", __c_show{i} AS {quote(c)}" for i, c in enumerate(show))
    return (
        f"WITH {typed_events(schema, show=show)} SELECT __c_row - 1 AS __c_index{shown} "
        f"FROM typed WHERE {condition} ORDER BY __c_row LIMIT 5"
    )


def sorted_events_query(schema: EventSchema, channels: Sequence[str]) -> str:
    """Touch and conversion rows with their person, ordered by person, time and input row.

    A person is a user id, or an anonymous id never linked to a user. An anonymous
    id belongs to the first user (by time, then input row) of the rows carrying
    both ids; user ids are never merged. Persons sort as the pandas path codes them:
    users in id order, then unlinked anonymous ids in id order. Channel codes index
    ``channels`` (sorted names); conversions get -1.
    """
    extras = [extra_alias(i) for i in range(len(schema.extras))]
    payload = ["__c_row", "__c_t", "__c_conv", "__c_channel", "__c_value", "__c_offline", *extras]
    kept = (
        f"kept AS (SELECT {', '.join(payload)}, __c_uid, __c_aid FROM typed "
        "WHERE __c_touch OR __c_conv)"
    )
    return (
        f"WITH {typed_events(schema)}, {kept}, {_persons(schema, payload)} "
        f"SELECT p.__c_pu, p.__c_pa, p.__c_t, p.__c_conv, {_channel_code(channels)} AS __c_code, "
        "CASE WHEN p.__c_conv THEN p.__c_value ELSE 0.0 END AS __c_value, "
        "p.__c_offline AND p.__c_conv AS __c_offline"
        + "".join(f", p.{c}" for c in extras)
        + " FROM persons AS p"
        + _channel_join(channels)
        + " ORDER BY p.__c_pu ASC NULLS LAST, p.__c_pa ASC NULLS LAST, p.__c_t, p.__c_row"
    )


def _persons(schema: EventSchema, payload: Sequence[str]) -> str:
    """CTEs giving every kept row its person: ``__c_pu`` (a user) or ``__c_pa`` (anonymous)."""
    columns = ", ".join(payload)
    if schema.user is None or schema.anonymous is None:
        return (
            "persons AS (SELECT __c_uid AS __c_pu, CASE WHEN __c_uid IS NULL THEN __c_aid END "
            f"AS __c_pa, {columns} FROM kept)"
        )
    owners = (
        "owners AS (SELECT __c_aid, arg_min(__c_uid, (__c_t, __c_row)) AS __c_owner "
        "FROM typed WHERE __c_uid IS NOT NULL AND __c_aid IS NOT NULL GROUP BY __c_aid)"
    )
    # Rows with a user id need no lookup; only anonymous rows join their owner.
    with_user = (
        f"SELECT __c_uid AS __c_pu, CAST(NULL AS {schema.types[schema.anonymous]}) AS __c_pa, "
        f"{columns} FROM kept WHERE __c_uid IS NOT NULL"
    )
    anonymous = (
        "SELECT o.__c_owner, CASE WHEN o.__c_owner IS NULL THEN k.__c_aid END, "
        + ", ".join(f"k.{c}" for c in payload)
        + " FROM kept AS k LEFT JOIN owners AS o ON k.__c_aid = o.__c_aid WHERE k.__c_uid IS NULL"
    )
    return f"{owners}, persons AS ({with_user} UNION ALL {anonymous})"


def _channel_code(channels: Sequence[str]) -> str:
    if not channels:
        return "CAST(-1 AS INTEGER)"
    return "CAST(coalesce(__c_channels.__c_code, -1) AS INTEGER)"


def _channel_join(channels: Sequence[str]) -> str:
    if not channels:
        return ""
    table = ", ".join(f"({literal(name)}, {code})" for code, name in enumerate(channels))
    return (
        f" LEFT JOIN (VALUES {table}) AS __c_channels(__c_name, __c_code) "
        "ON p.__c_channel = __c_channels.__c_name"
    )
