"""The GA4 default channel group of touches that arrive without one (`causality.channels`).

Each (source, medium, campaign, click id) combination is grouped once per process
and remembered, so a stream of batches runs the rules only for combinations it has
not seen.
"""

from __future__ import annotations

from typing import Any

CLICK_KINDS = ("gclid", "fbclid", "msclkid")


def derive_channel_groups(rows: list[dict[str, Any]]) -> None:
    """Set ``channel_group`` and ``rule_set`` of touch rows, vectorised over the rows.

    Without UTM tags, an auto-tagged click id stands in for source / medium
    (``gclid``: google / cpc, ``msclkid``: bing / cpc) and the referrer's host for
    the source of referral traffic, as GA4 does.
    """
    keys = [
        (_source(r), _medium(r), r["campaign"], next((k for k in CLICK_KINDS if r[k]), None))
        for r in rows
    ]
    known = {key: _GROUPS[key] for key in set(keys) if key in _GROUPS}
    missing = [key for key in set(keys) if key not in known]
    if missing:
        known.update(_group(missing))
    for row, key in zip(rows, keys, strict=True):
        row["channel_group"], row["rule_set"] = known[key]


#: (source, medium, campaign, click id kind) -> (channel group, rule set id).
_GROUPS: dict[tuple[str | None, ...], tuple[str, str]] = {}
_MAX_GROUPS = 65_536


def _group(keys: list[tuple[str | None, ...]]) -> dict[tuple[str | None, ...], tuple[str, str]]:
    import pandas as pd

    from causality.channels import default_grouping

    source, medium, campaign, click = (
        pd.Series(col, dtype=object) for col in zip(*keys, strict=True)
    )
    groups = default_grouping(source, medium, campaign=campaign, click_id=click)
    rule_set = groups.attrs.get("rule_set")
    found = {key: (group, rule_set) for key, group in zip(keys, groups.tolist(), strict=True)}
    if len(_GROUPS) + len(found) > _MAX_GROUPS:
        _GROUPS.clear()  # bounded memory: unusual streams just group again
    _GROUPS.update(found)
    return found


# Auto-tagged ad clicks carry only a click id; GA4 reads them as these source / medium.
_AUTO_TAGGED = {"gclid": ("google", "cpc"), "msclkid": ("bing", "cpc")}


def _source(row: dict[str, Any]) -> str | None:
    if row["source"]:
        return row["source"]
    for kind, (source, _medium) in _AUTO_TAGGED.items():
        if row[kind] and not row["medium"]:
            return source
    return _referrer_host(row["referrer"])


def _medium(row: dict[str, Any]) -> str | None:
    if row["medium"]:
        return row["medium"]
    if row["source"]:
        return None
    for kind, (_source, medium) in _AUTO_TAGGED.items():
        if row[kind]:
            return medium
    return "referral" if row["referrer"] else None


def _referrer_host(referrer: str | None) -> str | None:
    if not referrer:
        return None
    from urllib.parse import urlsplit

    host = urlsplit(referrer if "//" in referrer else "//" + referrer).hostname
    return host.removeprefix("www.") if host else None
