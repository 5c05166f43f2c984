"""Channel grouping: ordered rules map source / medium / campaign / click id to channel groups.

The GA4 default channel grouping ships as versioned data in ``causality/channels/data/``
(``ga4_default_2026_11``, the default, and the legacy ``ga4_early``); `default_grouping`
applies a rule set to whole columns at once. Each result records the id of the rule set
that made it (``.attrs["rule_set"]``), so stored results say which definition they used.

Rule-set format (JSON, or the same structure as a Python mapping)::

    {
      "format": 1,
      "rule_set": "my_rules_2026_01",          # id recorded on every result
      "description": "...",                     # optional
      "default": "Unassigned",                  # group when no rule matches
      "source_categories": {"social": ["facebook", "instagram"]},   # or a JSON file name
      "patterns": {"paid": "^(.*cp.*|ppc|paid.*)$"},                # named regexes
      "rules": [                                # evaluated in order, first match wins
        {"channel": "Paid Social", "when": {"all": [
            {"field": "source", "in_category": "social"},
            {"field": "medium", "pattern": "paid"}]}},
        {"channel": "Email", "when": {"field": "medium", "equals": "email"}}
      ]
    }

A condition is a leaf ``{"field": F, OP: ARG}`` or a combination ``{"all": [...]}``,
``{"any": [...]}``, ``{"not": condition}``. Fields: ``source``, ``medium``, ``campaign``,
``click_id`` (the *name* of the click-id parameter on the hit: ``gclid``, ``msclkid``, ...).
Operators: ``equals``, ``in`` (list), ``contains``, ``starts_with``, ``ends_with``,
``matches`` (a regex, searched anywhere: anchor it with ``^...$`` for a full match),
``pattern`` (the name of a regex in ``patterns``), ``in_category`` (the name of a source
list in ``source_categories``; exact match) and ``present`` (true: non-empty). Matching is
case-insensitive (values are compared in lower case; regexes use ``re.IGNORECASE``); a
missing value matches no operator except ``present: false``. A string
``source_categories`` names a JSON file beside the rules file (for built-in sets and
mappings: beside the built-in ones, so ``"source_categories_v1.json"`` reuses ours).
"""

from causality.channels.conditions import FIELDS
from causality.channels.rules import (
    DEFAULT_RULE_SET,
    ChannelRules,
    available_rule_sets,
    default_grouping,
    load_rules,
)

__all__ = [
    "DEFAULT_RULE_SET",
    "FIELDS",
    "ChannelRules",
    "available_rule_sets",
    "default_grouping",
    "load_rules",
]
