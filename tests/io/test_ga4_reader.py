"""How export rows become touches, conversions and identity links, on hand-made rows."""

import gzip
import io
import json

import pandas as pd
import pytest

import causality as ca
from causality.errors import ConfigurationError, DataWarning, JourneyValidationError
from tests.io.conftest import T0, hit


def read(path, **options):
    return ca.io.read_ga4(path, **{"progress": False, **options})


def kinds(events):
    return events["event_type"].tolist()


def test_one_touch_per_session_and_traffic(write_ndjson):
    path = write_ndjson(
        [
            hit("session_start", 0, session=1, source="google", medium="cpc", gclid="abc"),
            hit("page_view", 0, session=1, source="google", medium="cpc", gclid="abc"),
            hit("page_view", 50, session=1, source="newsletter", medium="email"),  # new traffic
            hit("scroll", 60, session=1),  # no traffic: not a touch
            hit("page_view", 900, session=2, source="google", medium="cpc", gclid="abc"),
        ]
    )
    events = read(path)
    assert kinds(events) == ["touch"] * 3
    assert events["channel"].tolist() == ["Paid Search", "Email", "Paid Search"]
    assert events["click_id"].tolist() == ["gclid", pd.NA, "gclid"]
    assert events["click_id_value"].tolist()[0] == "abc"
    assert (
        events["timestamp"] - pd.Timestamp(T0 * 1000, tz="UTC")
    ).dt.total_seconds().tolist() == [0, 50, 900]
    assert events.attrs["duplicate_touches"] == 1
    assert events["anonymous_id"].eq("c1").all() and events["user_id"].isna().all()


def test_purchases_are_deduplicated_by_transaction_id_across_files(write_ndjson):
    write_ndjson(
        [
            hit("purchase", 10, revenue=30.0, order="T1"),
            hit("purchase", 40, revenue=30.0, order="T1"),  # page reload
            hit("purchase", 50, revenue=5.0, order="(not set)"),
            hit("purchase", 51, revenue=5.0, order="(not set)"),
        ],
        "events_20240601.json",
    )
    path = write_ndjson(
        [
            hit("purchase", 86_500, revenue=30.0, order="T1"),
            hit("purchase", 86_600, revenue=12.5, order="T2"),
        ],
        "events_20240602.json",
    )
    events = read(path.parent)
    conversions = events[events["event_type"] == "conversion"]
    # T1 once (its first hit), both "(not set)" orders (no id to match), T2.
    assert conversions["value"].tolist() == [30.0, 5.0, 5.0, 12.5]
    assert conversions["transaction_id"].tolist() == ["T1", "(not set)", "(not set)", "T2"]
    assert events.attrs["duplicate_conversions"] == 2


def test_purchase_value_falls_back_to_the_value_param_then_zero(write_ndjson):
    path = write_ndjson(
        [
            hit("purchase", 1, revenue=None, order="A", value=9.5),
            hit("purchase", 2, revenue=None, order="B"),
        ]
    )
    with pytest.warns(DataWarning, match="1 conversions had no ecommerce.purchase_revenue"):
        events = read(path)
    assert events["value"].tolist() == [9.5, 0.0]


def test_a_purchase_with_traffic_is_a_touch_just_before_the_conversion(write_ndjson):
    path = write_ndjson(
        [hit("purchase", 5, revenue=20.0, order="A", source="newsletter", medium="email")]
    )
    events = read(path)
    assert kinds(events) == ["touch", "conversion"]
    assert events["channel"].tolist() == ["Email", pd.NA]
    assert events["value"].isna().tolist() == [True, False]


def test_user_ids_link_cookies_so_journeys_cross_devices(write_ndjson):
    path = write_ndjson(
        [
            hit("page_view", 0, "laptop", source="facebook", medium="paid_social"),
            hit("login", 10, "laptop", user="u1"),
            hit("user_engagement", 20, "laptop", user="u1"),  # same link again: dropped
            hit("page_view", 100, "phone", source="google", medium="organic", session=2),
            hit("login", 110, "phone", user="u1", session=2),
            hit("purchase", 120, "phone", user="u1", revenue=40.0, order="X", session=2),
        ]
    )
    events = read(path)
    assert kinds(events) == ["touch", "identify", "touch", "identify", "conversion"]
    journeys = ca.Journeys.from_events(events)
    assert journeys.paths()["path"].tolist() == ["Paid Social > Organic Search"]
    assert journeys.paths()["value"].tolist() == [40.0]


def test_collected_traffic_source_wins_over_event_params_without_mixing(write_ndjson):
    collected = {
        "manual_source": "bing",
        "manual_medium": "cpc",
        "manual_campaign_name": None,
        "gclid": None,
        "dclid": None,
        "srsltid": None,
    }
    path = write_ndjson(
        [
            hit(
                "page_view",
                0,
                collected=collected,
                source="google",
                medium="organic",
                campaign="spring",
            )
        ]
    )
    events = read(path)
    assert events[["source", "medium"]].iloc[0].tolist() == ["bing", "cpc"]
    assert pd.isna(events["campaign"].iloc[0])  # not taken from the event params
    assert events["channel"].tolist() == ["Paid Search"]


def test_gclid_alone_reads_as_google_cpc(write_ndjson):
    events = read(write_ndjson([hit("page_view", 0, gclid="Cj0K")]))
    assert events[["source", "medium", "channel"]].iloc[0].tolist() == [
        "google",
        "cpc",
        "Paid Search",
    ]


def test_session_last_click_is_used_only_when_asked(write_ndjson):
    row = hit("page_view", 0)
    row["session_traffic_source_last_click"] = {
        "manual_campaign": {"source": "google", "medium": "cpc", "campaign_name": "brand"}
    }
    path = write_ndjson([row])
    assert len(read(path)) == 0
    events = read(path, session_last_click=True)
    assert events[["source", "campaign", "channel"]].iloc[0].tolist() == [
        "google",
        "brand",
        "Paid Search",
    ]


def test_traffic_source_is_only_the_first_touch(write_ndjson):
    events = read(
        write_ndjson(
            [
                hit(
                    "page_view",
                    0,
                    traffic_source=("bing", "cpc", "x"),
                    source="(direct)",
                    medium="(none)",
                )
            ]
        )
    )
    assert events["channel"].tolist() == ["Direct"]
    assert events[["first_touch_source", "first_touch_medium"]].iloc[0].tolist() == ["bing", "cpc"]


def test_rows_without_any_id_are_dropped_with_a_warning(write_ndjson):
    path = write_ndjson(
        [
            hit("page_view", 0, None, source="google", medium="organic"),
            hit("page_view", 1, "c2", source="google", medium="organic"),
        ]
    )
    with pytest.warns(DataWarning, match="dropped 1 GA4 rows with neither"):
        events = read(path)
    assert events["anonymous_id"].tolist() == ["c2"]


def test_custom_rules_and_conversion_events(write_ndjson):
    path = write_ndjson(
        [hit("page_view", 0, source="google", medium="cpc"), hit("generate_lead", 5, value=3.0)]
    )
    rules = {
        "rule_set": "two_v1",
        "default": "Other",
        "rules": [{"channel": "Search", "when": {"field": "source", "equals": "google"}}],
    }
    events = read(path, rules=rules, conversion_events=["generate_lead"])
    assert kinds(events) == ["touch", "conversion"]
    assert events["channel"].iloc[0] == "Search" and events["value"].iloc[1] == 3.0
    assert events.attrs["rule_set"] == "two_v1"


def test_gzip_streams_and_json_arrays(tmp_path):
    rows = [hit("page_view", i, f"c{i}", source="google", medium="organic") for i in range(3)]
    payload = gzip.compress(json.dumps(rows).encode())
    (tmp_path / "events_20240601.json.gz").write_bytes(payload)
    from_file = read(tmp_path)
    from_stream = read(io.BytesIO(payload))
    assert len(from_file) == 3
    pd.testing.assert_frame_equal(from_file, from_stream)


def test_json_array_rows_longer_than_the_read_buffer(tmp_path):
    rows = [
        hit("page_view", 0, "c0", source="google", medium="organic", page_title="x" * 1_500_000),
        hit("page_view", 1, "c1", source="bing", medium="organic"),
    ]
    (tmp_path / "big.json").write_text(json.dumps(rows, indent=1))
    assert read(tmp_path / "big.json")["source"].tolist() == ["google", "bing"]


def test_same_events_whatever_the_batch_size(write_ndjson):
    rows = [
        hit("page_view", i % 7, f"c{i % 3}", session=i % 2, source="google", medium="cpc")
        for i in range(40)
    ] + [hit("purchase", 9, "c1", revenue=1.0, order="A")] * 3
    path = write_ndjson(rows)
    whole = read(path)
    for batch_rows in (1, 4, 13):
        small = read(path, batch_rows=batch_rows)
        key = ["event_type", "anonymous_id", "session_id", "source"]
        assert small[key].equals(whole[key]) and small.attrs == whole.attrs


# --- errors name the file, the row and the field ------------------------------------------


def test_a_missing_timestamp_names_file_row_and_field(write_ndjson):
    rows = [hit("page_view", i) for i in range(4)]
    del rows[2]["event_timestamp"]
    path = write_ndjson(rows)
    with pytest.raises(
        JourneyValidationError,
        match=r"events_20240601.json, row 3, field "
        r"'event_timestamp' is missing",
    ):
        read(path)


def test_timestamps_in_milliseconds_are_refused(write_ndjson):
    row = hit("page_view", 0)
    row["event_timestamp"] = str(T0 // 1000)
    with pytest.raises(JourneyValidationError, match="row 1, field 'event_timestamp' is before"):
        read(write_ndjson([row]))


def test_a_type_change_mid_file_names_the_row_and_field(write_ndjson):
    rows = [hit("page_view", i) for i in range(6)]
    rows[4]["event_name"] = 17
    with pytest.raises(JourneyValidationError, match=r"row 5, field 'event_name'"):
        read(write_ndjson(rows))


def test_broken_json_names_the_row(write_ndjson):
    path = write_ndjson([hit("page_view", 0)])
    path.write_text(path.read_text() + '{"event_timestamp": \n')
    with pytest.raises(JourneyValidationError, match=r"events_20240601.json, row 2"):
        read(path)


def test_a_bad_session_id_names_its_parameter(write_ndjson):
    row = hit("page_view", 0, session="abc")
    with pytest.raises(JourneyValidationError, match=r"row 1, field 'event_params.ga_session_id'"):
        read(write_ndjson([row]))


def test_a_bad_sample_repr_names_row_and_field(tmp_path):
    wrapper = {
        "table_name": "events_x",
        "sample_rows": [
            {
                "event_timestamp": T0,
                "event_name": "page_view",
                "user_pseudo_id": "c",
                "event_params": "[{'key': 'ga_session_id', 'value': {'int_value': 1}}]",
            },
            {
                "event_timestamp": T0,
                "event_name": "page_view",
                "user_pseudo_id": "c",
                "event_params": "[{'key': 'x', 'value': array([1])}]",
            },
        ],
    }
    (tmp_path / "events_x.json").write_text(json.dumps(wrapper, indent=2))
    with pytest.raises(JourneyValidationError, match=r"events_x.json, row 2, field 'event_params'"):
        read(tmp_path / "events_x.json")


def test_bad_sources_and_options_say_how_to_fix_them(tmp_path):
    with pytest.raises(JourneyValidationError, match="no GA4 export files at"):
        read(tmp_path / "events_*.json")
    (tmp_path / "notes.json").write_text("hello")
    with pytest.raises(JourneyValidationError, match="cannot tell the format"):
        read(tmp_path / "notes.json")
    with pytest.raises(ConfigurationError, match="format must be one of"):
        read(tmp_path, format="csv")
    with pytest.raises(ConfigurationError, match="revenue must be"):
        read(tmp_path, revenue="value")
    with pytest.raises(ConfigurationError, match="batch_rows"):
        read(tmp_path, batch_rows=0)


def test_ndjson_rows_longer_than_a_parse_block_fall_back_to_row_decoding(write_ndjson):
    rows = [hit("page_view", i, f"c{i}", source="google", medium="organic") for i in range(3000)]
    rows[2500]["event_params"].append(
        {"key": "page_title", "value": {"string_value": "x" * 5_000_000}}
    )
    events = read(write_ndjson(rows), batch_rows=1000)
    assert events["anonymous_id"].tolist() == [f"c{i}" for i in range(3000)]
    assert events.attrs["rows_read"] == 3000


def test_progress_bar_counts_the_bytes_read(write_ndjson, capsys):
    path = write_ndjson([hit("page_view", i, source="google", medium="organic") for i in range(5)])
    read(path.parent, progress=True)
    assert "GA4 import" in capsys.readouterr().err
