"""Rule sets: load, validate and apply ordered channel-grouping rules (see `causality.channels`)."""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from causality.channels.conditions import (
    Combine,
    Fail,
    Leaf,
    compile_regex,
    distinct_combinations,
    input_columns,
    parse_condition,
)
from causality.errors import ConfigurationError

#: Id of the rule set `default_grouping` uses unless told otherwise.
DEFAULT_RULE_SET = "ga4_default_2026_11"
_FORMAT = 1


def _bundled_dir() -> Path:
    return Path(str(resources.files("causality.channels") / "data"))


@functools.cache
def available_rule_sets() -> tuple[str, ...]:
    """Ids of the built-in rule sets.

    Examples
    --------
    >>> available_rule_sets()
    ('ga4_default_2026_11', 'ga4_early')
    """
    return tuple(
        sorted(p.stem for p in _bundled_dir().glob("*.json") if not p.stem.startswith("source_"))
    )


@dataclass(frozen=True)
class ChannelRules:
    """An ordered, versioned rule set mapping traffic fields to channel groups.

    Build one with `load_rules` (a built-in id, a JSON file or a mapping in the format described in
    `causality.channels`); apply it with `default_grouping` or `ChannelRules.group`.

    Attributes
    ----------
    rule_set : str
        The rule-set id (e.g. ``"ga4_default_2026_11"``), recorded on every grouping.
    channels : tuple of str
        Every group the rules can return, in rule order, the default last.
    default : str
        The group of rows no rule matches.
    description : str
        What the rules are and where they come from.
    """

    rule_set: str
    channels: tuple[str, ...]
    default: str
    description: str
    _conditions: tuple[Leaf | Combine, ...] = field(repr=False, compare=False)
    _rule_channel: tuple[int, ...] = field(repr=False, compare=False)
    _definition: dict[str, Any] = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The rule set as a JSON-ready mapping (source lists inlined); `load_rules` reads it."""
        return copy.deepcopy(self._definition)

    def group(
        self, source: Any, medium: Any, campaign: Any = None, click_id: Any = None
    ) -> pd.Series:
        """Channel group of every row; see `default_grouping`."""
        columns = input_columns(
            {"source": source, "medium": medium, "campaign": campaign, "click_id": click_id}
        )
        n = len(next(iter(columns.values())))
        combo, distinct = distinct_combinations(columns)
        # Rules run once per distinct combination (typically a few hundred), not per row.
        label = np.full(distinct.size, len(self.channels) - 1, dtype=np.int32)
        open_ = np.ones(distinct.size, dtype=bool)
        for condition, channel in zip(self._conditions, self._rule_channel, strict=True):
            hit = open_ & condition.mask(distinct)
            label[hit] = channel
            open_ &= ~hit
        codes = label[combo] if n else np.zeros(0, dtype=np.int32)
        # Taking from the short list of names builds the string column without Python objects.
        values = pd.array(pa.array(self.channels, pa.string()).take(codes), dtype="string")
        index = source.index if isinstance(source, pd.Series) else None
        out = pd.Series(values, index=index, name="channel_group", copy=False)
        out.attrs["rule_set"] = self.rule_set
        return out


def default_grouping(
    source: Any,
    medium: Any,
    campaign: Any = None,
    click_id: Any = None,
    *,
    rules: str | os.PathLike[str] | Mapping[str, Any] | ChannelRules | None = None,
) -> pd.Series:
    """Channel group of every hit, by the GA4 default channel grouping or your own rules.

    Rules are tried in order and the first match wins; comparisons are case-insensitive.
    Vectorised: the rules run once per distinct (source, medium, campaign, click id)
    combination, whatever the number of rows.

    Parameters
    ----------
    source, medium : array-like or Series of str
        Traffic source and medium per hit (``google`` / ``cpc``); missing values allowed.
    campaign : array-like or Series of str, optional
        Campaign name per hit.
    click_id : array-like or Series of str, optional
        Name of the click-id parameter present on the hit (``gclid``, ``msclkid``,
        ``fbclid``, ...), missing where there is none. The GA4 set counts ``google`` +
        ``gclid`` and ``bing`` + ``msclkid`` as Paid Search.
    rules : str, path, mapping or ChannelRules, optional
        A built-in rule-set id (`available_rule_sets`; default `DEFAULT_RULE_SET`), a JSON
        file, or a mapping in the format described in `causality.channels`.

    Returns
    -------
    Series of str
        Named ``channel_group``, with the input's index when ``source`` is a Series, and
        the rule-set id in ``.attrs["rule_set"]``.

    Raises
    ------
    ConfigurationError
        Unknown rule set, an invalid rule definition (the message names the rule and the
        problem), or inputs of different lengths.

    Examples
    --------
    >>> groups = default_grouping(
    ...     ["google", "facebook", "newsletter", "(direct)", "partner"],
    ...     ["cpc", "paid_social", "email", "(none)", "affiliate"])
    >>> groups.tolist()
    ['Paid Search', 'Paid Social', 'Email', 'Direct', 'Affiliates']
    >>> groups.attrs["rule_set"]
    'ga4_default_2026_11'
    """
    return load_rules(DEFAULT_RULE_SET if rules is None else rules).group(
        source, medium, campaign, click_id
    )


def load_rules(rules: str | os.PathLike[str] | Mapping[str, Any] | ChannelRules) -> ChannelRules:
    """Read and validate a rule set.

    Parameters
    ----------
    rules : str, path, mapping or ChannelRules
        A built-in id (`available_rule_sets`), a path to a JSON file, or a mapping in the
        format described in `causality.channels`. A `ChannelRules` is returned as is.

    Returns
    -------
    ChannelRules

    Examples
    --------
    >>> load_rules("ga4_early").channels[:3]
    ('Direct', 'Organic Search', 'Paid Social')
    >>> custom = load_rules({"format": 1, "rule_set": "mine_v1", "default": "Other",
    ...     "rules": [{"channel": "Email", "when": {"field": "medium", "equals": "email"}}]})
    >>> custom.group(["x", "x"], ["Email", "cpc"]).tolist()
    ['Email', 'Other']
    """
    if isinstance(rules, ChannelRules):
        return rules
    if isinstance(rules, Mapping):
        return _parse(rules, base=_bundled_dir(), where="rules")
    if isinstance(rules, str) and rules in available_rule_sets():
        return _load_bundled(rules)
    if isinstance(rules, str | os.PathLike) and Path(rules).is_file():
        return _parse(_read_json(Path(rules)), base=Path(rules).parent, where=str(rules))
    raise ConfigurationError(
        f"rules={rules!r} is neither a built-in rule set ({', '.join(available_rule_sets())}), "
        "an existing JSON file, nor a mapping. Fix: pass one of those (see causality.channels)."
    )


@functools.cache
def _load_bundled(name: str) -> ChannelRules:
    path = _bundled_dir() / f"{name}.json"
    return _parse(_read_json(path), base=path.parent, where=name)


def _read_json(path: Path, what: str = "rules file") -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigurationError(f"cannot read {what} {str(path)!r}: {err}") from err


def _parse(spec: Mapping[str, Any], *, base: Path, where: str) -> ChannelRules:
    def fail(msg: str) -> ConfigurationError:
        return ConfigurationError(f"channel rules {where!r}: {msg}")

    if not isinstance(spec, Mapping):
        raise fail(f"expected a JSON object, got {type(spec).__name__}")
    known = {
        "format",
        "rule_set",
        "description",
        "default",
        "source_categories",
        "patterns",
        "rules",
    }
    if unknown := sorted(set(spec) - known):
        raise fail(f"unknown keys {unknown}; allowed: {sorted(known)}")
    if spec.get("format", _FORMAT) != _FORMAT:
        raise fail(f"format {spec.get('format')!r} is not supported; use format {_FORMAT}")
    rule_set, default = spec.get("rule_set"), spec.get("default", "Unassigned")
    for key, value in (("rule_set", rule_set), ("default", default)):
        if not isinstance(value, str) or not value.strip():
            raise fail(f"{key!r} must be a non-empty string, e.g. 'my_rules_2026_01'")
    categories = _categories(spec.get("source_categories", {}), base, fail)
    patterns = _patterns(spec.get("patterns", {}), fail)
    names, conditions, rule_channel = _rules(spec.get("rules"), categories, patterns, fail)
    if default not in names:
        names.append(default)
    definition = {
        **copy.deepcopy(dict(spec)),
        "format": _FORMAT,
        "default": default,
        "source_categories": {k: sorted(v) for k, v in categories.items()},
    }
    return ChannelRules(
        rule_set=rule_set,
        channels=tuple(names),
        default=default,
        description=str(spec.get("description", "")),
        _conditions=tuple(conditions),
        _rule_channel=tuple(rule_channel),
        _definition=definition,
    )


def _rules(
    raw: Any, categories: Mapping, patterns: Mapping, fail: Fail
) -> tuple[list[str], list[Leaf | Combine], list[int]]:
    """Channel names in first-rule order, each rule's condition, and its channel's index."""
    if not isinstance(raw, list) or not raw:
        raise fail("'rules' must be a non-empty list of {'channel': ..., 'when': ...}")
    names: list[str] = []
    conditions, rule_channel = [], []
    for i, rule in enumerate(raw):
        if not isinstance(rule, Mapping) or set(rule) != {"channel", "when"}:
            raise fail(f"rules[{i}] must have exactly the keys 'channel' and 'when'; got {rule!r}")
        if not isinstance(rule["channel"], str) or not rule["channel"].strip():
            raise fail(f"rules[{i}].channel must be a non-empty string")
        if rule["channel"] not in names:
            names.append(rule["channel"])
        where = f"rules[{i}].when"
        conditions.append(parse_condition(rule["when"], where, categories, patterns, fail))
        rule_channel.append(names.index(rule["channel"]))
    return names, conditions, rule_channel


def _categories(raw: Any, base: Path, fail: Fail) -> dict[str, frozenset[str]]:
    if isinstance(raw, str):  # a file of lists beside the rules file
        lists = _read_json(base / raw, "source-category file")
        raw = {k: v for k, v in lists.items() if k not in ("name", "description")}
    if not isinstance(raw, Mapping):
        raise fail("'source_categories' must map category names to lists of sources")
    out = {}
    for name, values in raw.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise fail(f"source_categories[{name!r}] must be a list of strings")
        out[name] = frozenset(v.lower() for v in values)
    return out


def _patterns(raw: Any, fail: Fail) -> dict[str, re.Pattern[str]]:
    if not isinstance(raw, Mapping):
        raise fail("'patterns' must map names to regular expressions")
    return {name: compile_regex(regex, f"patterns[{name!r}]", fail) for name, regex in raw.items()}
