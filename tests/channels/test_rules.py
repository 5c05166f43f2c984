"""User rule sets: the documented format, its validation errors, and round trips."""

import json

import pytest

from causality.channels import (
    DEFAULT_RULE_SET,
    available_rule_sets,
    default_grouping,
    load_rules,
)
from causality.errors import ConfigurationError

MINE = {
    "format": 1,
    "rule_set": "shop_rules_2026_01",
    "default": "Other",
    "source_categories": {"partners": ["Awin", "cj"]},
    "patterns": {"paid": "^(cpc|paid)$"},
    "rules": [
        {"channel": "Partners", "when": {"field": "source", "in_category": "partners"}},
        {
            "channel": "Brand Search",
            "when": {
                "all": [
                    {"field": "medium", "pattern": "paid"},
                    {"field": "campaign", "starts_with": "brand"},
                ]
            },
        },
        {
            "channel": "Paid",
            "when": {
                "any": [
                    {"field": "medium", "pattern": "paid"},
                    {"field": "click_id", "present": True},
                ]
            },
        },
        {"channel": "Not Email", "when": {"not": {"field": "medium", "matches": "mail"}}},
    ],
}


def test_user_rules_apply_in_order_with_their_own_default():
    groups = default_grouping(
        ["AWIN", "google", "google", "x", "x", "x"],
        ["cpc", "CPC", "cpc", "(none)", "push", "e-mail"],
        ["", "Brand_2026", "generic", None, None, None],
        [None, None, None, "gclid", None, None],
        rules=MINE,
    )
    assert groups.tolist() == ["Partners", "Brand Search", "Paid", "Paid", "Not Email", "Other"]
    assert groups.attrs["rule_set"] == "shop_rules_2026_01"


def test_rules_load_from_a_json_file_and_reuse_the_bundled_source_lists(tmp_path):
    spec = {
        "rule_set": "social_only_v1",
        "source_categories": "source_categories_v1.json",
        "rules": [{"channel": "Social", "when": {"field": "source", "in_category": "social"}}],
    }
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(ConfigurationError, match="cannot read source-category file"):
        load_rules(path)  # a file name is resolved beside the rules file...
    (tmp_path / "lists.json").write_text(json.dumps({"social": ["mastodon.social"]}))
    spec["source_categories"] = "lists.json"
    path.write_text(json.dumps(spec))
    assert load_rules(path).group(["Mastodon.Social", "facebook"], ["x", "x"]).tolist() == [
        "Social",
        "Unassigned",
    ]
    # ...while a mapping resolves it beside the built-in sets.
    spec["source_categories"] = "source_categories_v1.json"
    assert load_rules(spec).group(["facebook"], ["x"]).tolist() == ["Social"]


def test_to_dict_round_trips_through_json():
    rules = load_rules(DEFAULT_RULE_SET)
    again = load_rules(json.loads(json.dumps(rules.to_dict())))
    assert again == rules  # same id, channels, default
    hits = (["google", "amazon", "youtube", "x"], ["cpc", "referral", "cpv", "sms"])
    assert again.group(*hits).tolist() == rules.group(*hits).tolist()


def test_built_in_sets_are_listed_and_unknown_names_say_which_exist():
    assert DEFAULT_RULE_SET in available_rule_sets()
    with pytest.raises(ConfigurationError, match="ga4_default_2026_11, ga4_early"):
        load_rules("ga4_default_v0")


def broken(**changes):
    spec = json.loads(json.dumps(MINE))
    for path, value in changes.items():
        target = spec
        *parents, last = path.split("__")
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (broken(rules=[]), "'rules' must be a non-empty list"),
        (broken(rule_set=""), "'rule_set' must be a non-empty string"),
        (broken(format=2), "format 2 is not supported"),
        (broken(colour="red"), r"unknown keys \['colour'\]"),
        (broken(rules__0={"channel": "A"}), r"rules\[0\] must have exactly the keys"),
        (
            broken(rules__0__when={"field": "referrer", "equals": "x"}),
            r"rules\[0\].when: 'field' must be one of",
        ),
        (
            broken(rules__0__when={"field": "source", "equal": "x"}),
            r"rules\[0\].when: give exactly one operator out of",
        ),
        (
            broken(rules__0__when={"field": "source", "in_category": "blogs"}),
            r"unknown source category 'blogs'; defined: \['partners'\]",
        ),
        (
            broken(rules__1__when__all__0={"field": "medium", "pattern": "cpm"}),
            r"rules\[1\].when.all\[0\]: unknown pattern 'cpm'",
        ),
        (
            broken(rules__3__when={"not": {"field": "medium", "matches": "(mail"}}),
            r"rules\[3\].when.not\[0\].matches: invalid regular expression",
        ),
        (broken(patterns={"paid": "[cpc"}), r"patterns\['paid'\]: invalid regular expression"),
        (broken(rules__2__when={"any": []}), r"rules\[2\].when.any must be a non-empty list"),
        (broken(rules__0__when={"field": "medium", "in": "email"}), "in must be a list"),
        (broken(rules__0__when={"field": "medium", "present": "yes"}), "present must be true"),
        (broken(source_categories={"partners": "awin"}), "must be a list of strings"),
    ],
)
def test_invalid_rules_name_the_rule_and_the_problem(spec, message):
    with pytest.raises(ConfigurationError, match=message) as info:
        load_rules(spec)
    assert "channel rules 'rules'" in str(info.value)


def test_inputs_must_be_columns_of_one_length():
    with pytest.raises(ConfigurationError, match="one per hit"):
        default_grouping("google", "cpc")
    with pytest.raises(ConfigurationError, match="differ in length"):
        default_grouping(["google"], ["cpc", "organic"])
