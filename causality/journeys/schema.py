"""Which columns of an event source play which role, engine-neutral (DuckDB, Spark)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from causality._validation import to_timedelta
from causality.errors import ConfigurationError

_INTEGER_TYPES = frozenset(
    {
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
        "INT",  # Spark's names from here on
        "LONG",
        "SHORT",
        "BYTE",
    }
)
_FLOAT_TYPES = frozenset({"FLOAT", "DOUBLE", "REAL"})


def quote(name: str) -> str:
    """A DuckDB SQL identifier for any column name."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def type_family(type_name: str) -> str:
    """Classify a DuckDB or Spark type name.

    Returns one of timestamp, date, integer, float, number, boolean, text or other.

    Examples
    --------
    >>> type_family("TIMESTAMP WITH TIME ZONE"), type_family("bigint"), type_family("string")
    ('timestamp', 'integer', 'text')
    """
    name = type_name.upper()
    base = name.split("(")[0].strip()
    if base.startswith("TIMESTAMP"):
        return "timestamp"
    if base == "DATE":
        return "date"
    if base in _INTEGER_TYPES:
        return "integer"
    if base in _FLOAT_TYPES:
        return "float"
    if base == "DECIMAL":
        return "number"
    if base == "BOOLEAN":
        return "boolean"
    if base in ("VARCHAR", "STRING", "CHAR") or base.startswith("ENUM"):
        return "text"
    return "other"


def extra_alias(index: int) -> str:
    """Internal name of the ``index``-th extra column (extras may have any name)."""
    return f"__c_x{index}"


@dataclass(frozen=True)
class EventSchema:
    """Which source columns play which role, and their types as the engine names them.

    A role whose column is absent from the source is None. ``extras`` are the
    other columns, kept per journey as attributes.
    """

    timestamp: str
    event_type: str
    user: str | None
    anonymous: str | None
    channel: str | None
    value: str | None
    offline: str | None
    types: dict[str, str]
    extras: tuple[str, ...]
    touch_types: frozenset[str]
    conversion_types: frozenset[str]

    def family(self, column: str) -> str:
        """The `type_family` of a column."""
        return type_family(self.types[column])

    def null_counted(self) -> list[int]:
        """Extra columns whose pandas dtype depends on whether they hold NULLs."""
        return [i for i, c in enumerate(self.extras) if self.family(c) in ("integer", "boolean")]


def event_schema(
    roles: dict[str, str],
    types: dict[str, str],
    conversions: frozenset[str],
    touches: frozenset[str],
) -> EventSchema:
    """The schema of a source with columns ``types``, read with the role names ``roles``."""
    present = {role: (name if name in types else None) for role, name in roles.items()}
    mapped = set(roles.values())
    return EventSchema(
        timestamp=roles["timestamp"],
        event_type=roles["event_type"],
        user=present["user"],
        anonymous=present["anonymous"],
        channel=present["channel"],
        value=present["value"],
        offline=present["offline"],
        types=types,
        extras=tuple(c for c in types if c not in mapped),
        touch_types=touches,
        conversion_types=conversions,
    )


@dataclass(frozen=True)
class BuildOptions:
    """The validated keywords of `Journeys.from_events`, shared by the DuckDB and Spark paths."""

    roles: dict[str, str]
    lookback: pd.Timedelta | None
    conversion_types: frozenset[str]
    touch_types: frozenset[str]

    @property
    def lookback_ns(self) -> int | None:
        """The lookback in nanoseconds, or None for no limit."""
        return None if self.lookback is None else int(self.lookback.value)

    def schema(self, types: dict[str, str]) -> EventSchema:
        """The schema of a source whose columns have these engine ``types``."""
        return event_schema(self.roles, types, self.conversion_types, self.touch_types)


def build_options(
    *,
    lookback: str | pd.Timedelta | None,
    conversion_types: Sequence[str],
    touch_types: Sequence[str],
    **roles: str,
) -> BuildOptions:
    """Validate `Journeys.from_events` keywords (the same errors as the pandas path)."""
    from causality.journeys.events import _type_set

    conversions = _type_set("conversion_types", conversion_types)
    touches = _type_set("touch_types", touch_types)
    if conversions & touches:
        raise ConfigurationError(
            f"conversion_types and touch_types overlap: {sorted(conversions & touches)}"
        )
    return BuildOptions(
        roles=dict(roles),
        lookback=to_timedelta("lookback", lookback, allow_none=True),
        conversion_types=conversions,
        touch_types=touches,
    )
