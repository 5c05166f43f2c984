"""The real sample rows of Google's obfuscated GA4 export (shared/data/ga4-sample) load cleanly."""

import ast
import collections
import json
import re
import warnings

import numpy as np
import pyarrow.compute as pc
import pytest

import causality as ca
from causality.io.ga4.fields import extract_hits
from causality.io.ga4.sources import read_chunks, resolve


@pytest.fixture(scope="module")
def sample(shared_data):
    return shared_data / "ga4-sample"


@pytest.fixture(scope="module")
def raw_rows(sample):
    """Every sample row, parsed independently of the reader (the test's own oracle)."""
    rows = []
    for path in sorted(sample.glob("events_*.json")):
        for row in json.loads(path.read_text())["sample_rows"]:
            text = re.sub(r"\}\s*\n\s*\{", "}, {", row["event_params"])
            params = {p["key"]: p["value"] for p in ast.literal_eval(text)}
            rows.append({**row, "params": params})
    return rows


@pytest.fixture(scope="module")
def hits(sample):
    """The reader's per-row view of all 460 rows (before touches are selected)."""
    parts = []
    for source in resolve(sample):
        for chunk, _ in read_chunks(source, fmt="auto", batch_rows=100):
            parts.append(
                extract_hits(
                    chunk.batch,
                    name=source.name,
                    first_row=chunk.first_row,
                    session_last_click=False,
                )
            )
    return parts


def column(hits, name):
    return np.concatenate([h[name].to_numpy(zero_copy_only=False) for h in hits])


def test_all_460_rows_parse_with_the_readme_counts(hits, raw_rows):
    assert sum(h.num_rows for h in hits) == len(raw_rows) == 460
    names = collections.Counter(column(hits, "event_name"))
    assert names == {
        "page_view": 151,
        "user_engagement": 96,
        "session_start": 86,
        "first_visit": 68,
        "scroll": 42,
        "view_search_results": 9,
        "view_item": 4,
        "view_promotion": 3,
        "add_payment_info": 1,
    }
    assert len(set(column(hits, "user_pseudo_id"))) == 114
    # Every row carries ga_session_id; 132 carry event-level source/medium (README).
    assert all(pc.all(pc.is_valid(h["session_id"])).as_py() for h in hits)
    assert int(sum(pc.sum(pc.is_valid(h["source"])).as_py() for h in hits)) == 132
    first = collections.Counter(
        zip(column(hits, "first_touch_source"), column(hits, "first_touch_medium"), strict=True)
    )
    assert first[("google", "organic")] == 163
    assert first[("(direct)", "(none)")] == 137
    assert first[("<Other>", "<Other>")] == 63  # obfuscation tokens are kept verbatim
    assert first[("<Other>", "referral")] == 41
    assert first[("google", "cpc")] == 20
    assert first[("(data deleted)", "(data deleted)")] == 15


def test_fields_equal_an_independent_parse(hits, raw_rows):
    assert column(hits, "timestamp_us").tolist() == [r["event_timestamp"] for r in raw_rows]
    assert column(hits, "session_id").tolist() == [
        r["params"]["ga_session_id"]["int_value"] for r in raw_rows
    ]
    for key in ("source", "medium", "campaign"):
        expected = [r["params"].get(key, {}).get("string_value") for r in raw_rows]
        assert column(hits, key).tolist() == expected


def test_read_ga4_loads_the_sample_without_errors_or_warnings(sample, raw_rows):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        events = ca.io.read_ga4(sample, progress=False)
    stats = events.attrs
    assert (stats["files"], stats["rows_read"], stats["rows_without_id"]) == (92, 460, 0)
    # The 132 rows with traffic are hits of fewer sessions: one touch per session and traffic.
    distinct = {
        (
            r["user_pseudo_id"],
            r["params"]["ga_session_id"]["int_value"],
            r["params"]["source"]["string_value"],
            r["params"]["medium"]["string_value"],
            r["params"]["campaign"]["string_value"],
        )
        for r in raw_rows
        if "source" in r["params"]
    }
    assert (
        stats["touches"] == len(distinct) and stats["touches"] + stats["duplicate_touches"] == 132
    )
    assert set(events["event_type"]) == {"touch"}  # no purchases, no user_id in the sample
    assert events["timestamp"].is_monotonic_increasing
    assert events["channel"].notna().all() and events["session_id"].notna().all()
    by_traffic = events.groupby(["source", "medium"])["channel"].first().to_dict()
    assert by_traffic[("google", "organic")] == "Organic Search"
    assert by_traffic[("(direct)", "(none)")] == "Direct"
    assert by_traffic[("shop.googlemerchandisestore.com", "referral")] == "Referral"
    assert by_traffic[("google", "cpc")] == "Paid Search"
    assert by_traffic[("<Other>", "<Other>")] == "Unassigned"
    assert events["event_id"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert events["event_id"].is_unique
