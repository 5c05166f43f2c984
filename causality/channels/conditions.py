"""The condition language of channel rules, evaluated on distinct field combinations.

A rule's condition is parsed once (`parse_condition`) into a tree of `Leaf` tests and
`Combine` nodes; grouping evaluates it on `Distinct`, the distinct lower-cased
(source, medium, campaign, click_id) combinations of the input
(`distinct_combinations`), so rules cost per distinct value, not per row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from causality.errors import ConfigurationError

#: Input fields a rule can test, in the order `default_grouping` takes them.
FIELDS = ("source", "medium", "campaign", "click_id")
#: Operators of a leaf condition ``{"field": F, OP: ARG}``.
OPERATORS = (
    "equals",
    "in",
    "contains",
    "starts_with",
    "ends_with",
    "matches",
    "pattern",
    "in_category",
    "present",
)

Fail = Callable[[str], ConfigurationError]


@dataclass(frozen=True)
class Leaf:
    """One test of one field: ``{"field": field, op: arg}``, with ``arg`` prepared."""

    field: str
    op: str
    arg: Any  # lower-cased str, frozenset of str, compiled regex or bool

    def mask(self, table: Distinct) -> np.ndarray:
        """Whether each distinct combination passes the test."""
        # A leaf reads one field, so it runs once per distinct value of that field (a short
        # Python loop), then spreads to the combinations through their digit of that field.
        values, digits = table.values[self.field], table.digits[self.field]
        arg, op = self.arg, self.op
        if op == "present":
            hit = [(v is not None and v != "") == arg for v in values]
        elif op == "equals":
            hit = [v == arg for v in values]
        elif op in ("in", "in_category"):
            hit = [v in arg for v in values]
        elif op == "contains":
            hit = [v is not None and arg in v for v in values]
        elif op == "starts_with":
            hit = [v is not None and v.startswith(arg) for v in values]
        elif op == "ends_with":
            hit = [v is not None and v.endswith(arg) for v in values]
        else:  # matches, pattern
            hit = [v is not None and arg.search(v) is not None for v in values]
        return np.asarray(hit, dtype=bool)[digits]


@dataclass(frozen=True)
class Combine:
    """``all``, ``any`` or ``not`` of nested conditions."""

    how: str
    items: tuple[Leaf | Combine, ...]

    def mask(self, table: Distinct) -> np.ndarray:
        """Whether each distinct combination passes the combined condition."""
        masks = [item.mask(table) for item in self.items]
        if self.how == "not":
            return ~masks[0]
        return (np.logical_and if self.how == "all" else np.logical_or).reduce(masks)


@dataclass(frozen=True)
class Distinct:
    """Distinct lower-cased field combinations.

    Per field: its distinct values (``values[f][0]`` is None, the missing value) and each
    combination's index into them.
    """

    values: dict[str, list[str | None]]
    digits: dict[str, np.ndarray]
    size: int


def compile_regex(regex: Any, where: str, fail: Fail) -> re.Pattern[str]:
    """Compile a case-insensitive regex; ``fail`` builds the error naming ``where``."""
    if not isinstance(regex, str):
        raise fail(f"{where} must be a regular expression string; got {regex!r}")
    try:
        return re.compile(regex, re.IGNORECASE)
    except re.error as err:
        raise fail(f"{where}: invalid regular expression {regex!r}: {err}") from err


def parse_condition(
    raw: Any, where: str, categories: Mapping[str, frozenset[str]], patterns: Mapping, fail: Fail
) -> Leaf | Combine:
    """Validate and prepare a condition; errors name its place (``rules[3].when.any[0]``)."""
    if not isinstance(raw, Mapping):
        raise fail(f"{where} must be an object: a leaf {{'field': ..., OP: ...}} or all/any/not")
    for how in ("all", "any", "not"):
        if how in raw:
            if len(raw) != 1:
                raise fail(f"{where}: {how!r} must be the only key; got {sorted(raw)}")
            items = [raw[how]] if how == "not" else raw[how]
            if not isinstance(items, list) or not items:
                raise fail(f"{where}.{how} must be a non-empty list of conditions")
            return Combine(
                how,
                tuple(
                    parse_condition(c, f"{where}.{how}[{j}]", categories, patterns, fail)
                    for j, c in enumerate(items)
                ),
            )
    if raw.get("field") not in FIELDS:
        raise fail(f"{where}: 'field' must be one of {list(FIELDS)}; got {raw.get('field')!r}")
    ops = [k for k in raw if k != "field"]
    if len(ops) != 1 or ops[0] not in OPERATORS:
        raise fail(f"{where}: give exactly one operator out of {list(OPERATORS)}; got {ops}")
    op = ops[0]
    return Leaf(raw["field"], op, _argument(op, raw[op], where, categories, patterns, fail))


def _argument(
    op: str, arg: Any, where: str, categories: Mapping, patterns: Mapping, fail: Fail
) -> Any:
    """A leaf's argument, checked and prepared for matching in lower case."""
    if op == "present":
        if not isinstance(arg, bool):
            raise fail(f"{where}.present must be true or false")
        return arg
    if op == "in":
        if not isinstance(arg, list) or not all(isinstance(v, str) for v in arg):
            raise fail(f"{where}.in must be a list of strings")
        return frozenset(v.lower() for v in arg)
    if op == "in_category":
        if arg not in categories:
            raise fail(f"{where}: unknown source category {arg!r}; defined: {sorted(categories)}")
        return categories[arg]
    if op == "pattern":
        if arg not in patterns:
            raise fail(f"{where}: unknown pattern {arg!r}; defined: {sorted(patterns)}")
        return patterns[arg]
    if op == "matches":
        return compile_regex(arg, f"{where}.matches", fail)
    if not isinstance(arg, str):
        raise fail(f"{where}.{op} must be a string; got {arg!r}")
    return arg.lower()


def input_columns(raw: dict[str, Any]) -> dict[str, Any]:
    """The given fields as array-likes of one length; absent fields are all missing."""
    columns = {}
    for name, values in raw.items():
        if values is None:
            continue
        if isinstance(values, str) or np.ndim(values) != 1:
            raise ConfigurationError(
                f"{name} must be a 1-D array or Series of strings, one per hit; got "
                f"{values!r:.60}. Fix: wrap a single value in a list."
            )
        if not isinstance(
            values, pd.Series | pd.Index | np.ndarray | pd.api.extensions.ExtensionArray
        ):
            values = np.asarray(values, dtype=object)  # lists, tuples, other sequences
        columns[name] = values
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ConfigurationError(
            f"source, medium, campaign and click_id differ in length: {lengths}"
        )
    n = lengths["source"]
    return {f: columns.get(f, np.full(n, None, dtype=object)) for f in FIELDS}


def distinct_combinations(columns: dict[str, Any]) -> tuple[np.ndarray, Distinct]:
    """Code of each row's lower-cased field combination, and the distinct combinations."""
    digits, lowered = [], []
    for values in columns.values():
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        # Lower-case the distinct values only, then merge values that differ only by case.
        text = [str(u).lower() for u in np.asarray(uniques, dtype=object)]
        low_codes, low_uniques = pd.factorize(np.asarray(text, dtype=object))
        digits.append(np.append(low_codes, -1)[codes] + 1)  # digit 0 = missing
        lowered.append([None, *low_uniques.tolist()])
    bases = [len(u) for u in lowered]
    if float(np.prod(bases, dtype=np.float64)) < 2.0**62:  # a mixed-radix key fits in int64
        key = np.zeros(len(digits[0]), dtype=np.int64)
        for d, b in zip(digits, bases, strict=True):
            key = key * b + d
        combo, distinct_keys = pd.factorize(key)
        parts, rest = [], np.asarray(distinct_keys, dtype=np.int64)
        for b in reversed(bases):
            parts.append(rest % b)
            rest = rest // b
        distinct_digits = parts[::-1]
    else:  # astronomically many distinct values: sort-based fallback
        table, combo = np.unique(np.stack(digits, axis=1), axis=0, return_inverse=True)
        distinct_digits = list(table.T)
    distinct = Distinct(
        values=dict(zip(FIELDS, lowered, strict=True)),
        digits=dict(zip(FIELDS, distinct_digits, strict=True)),
        size=len(distinct_digits[0]),
    )
    return np.asarray(combo, dtype=np.int64).reshape(-1), distinct
