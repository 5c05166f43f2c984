"""A GA4-shaped export written by the simulator reads back as the simulation's own events."""

import pandas as pd
import pandas.testing as pdt
import pytest

import causality as ca
from causality.simulate.ga4_export import TRAFFIC

# The GA4 default grouping of each simulated channel's traffic (specs/ga4.md section 2).
GROUP = {
    "Paid Search Brand": "Paid Search",  # google / cpc (+ gclid)
    "Paid Search Generic": "Paid Search",
    "Paid Social": "Paid Social",  # facebook / paid_social
    "Online Video": "Paid Video",  # youtube / cpv
    "Display": "Display",  # dv360 / display
    "Display Retargeting": "Paid Other",  # criteo / retargeting
    "Email": "Email",
    "Affiliates": "Affiliates",
    "Organic Social": "Organic Social",  # instagram / social
    "Direct": "Direct",
}
BY_CAMPAIGN = {campaign: channel for channel, (_, _, campaign, _) in TRAFFIC.items()}


@pytest.fixture(scope="module")
def sim():
    # Anonymous browsing and identify rows exercise identity stitching through user_pseudo_id.
    return ca.simulate("confounded", n_users=1_500, n_days=21, seed=4, anonymous_share=0.4)


@pytest.fixture(scope="module")
def exported(sim, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ga4")
    files = sim.to_ga4(folder, format="ndjson", progress=False)
    return folder, files


@pytest.fixture(scope="module")
def events(exported):
    return ca.io.read_ga4(exported[0], progress=False)


def rows(frame, kind, columns):
    part = frame.loc[frame["event_type"] == kind, columns]
    return part.sort_values(columns).reset_index(drop=True)


def test_one_file_per_day(sim, exported):
    _, files = exported
    assert [f.name for f in files] == [
        f"events_{d:%Y%m%d}.json" for d in pd.date_range("2024-01-01", periods=21)
    ]


def test_conversions_and_values_equal_the_simulation(sim, events):
    ours = rows(events, "conversion", ["timestamp", "value"])
    truth = rows(sim.events, "conversion", ["timestamp", "value"])
    pdt.assert_frame_equal(ours, truth, check_dtype=False)
    assert len(ours) == sim.total_conversions
    assert ours["value"].sum() == pytest.approx(sim.total_value)
    # Some purchases were sent twice with one transaction id; each counts once.
    assert events.attrs["duplicate_conversions"] > 0
    assert events.loc[events["event_type"] == "conversion", "transaction_id"].is_unique


def test_touches_and_channels_equal_the_simulation(sim, events):
    touches = events[events["event_type"] == "touch"]
    assert (touches["channel"] == touches["campaign"].map(BY_CAMPAIGN).map(GROUP)).all()
    ours = touches.assign(channel=touches["campaign"].map(BY_CAMPAIGN))
    truth = sim.events
    pdt.assert_frame_equal(
        rows(ours, "touch", ["timestamp", "channel"]),
        rows(truth, "touch", ["timestamp", "channel"]).astype({"channel": "string"}),
        check_dtype=False,
    )
    # Each session was logged as session_start + page_view: the repeat is merged.
    assert events.attrs["duplicate_touches"] == events.attrs["touches"]


def test_journeys_equal_those_of_the_simulated_log(sim, events):
    from_ga4 = ca.Journeys.from_events(events.assign(channel=events["campaign"].map(BY_CAMPAIGN)))
    from_sim = ca.Journeys.from_events(sim.events)
    pdt.assert_frame_equal(from_ga4.paths(), from_sim.paths())
    assert from_ga4.unattributed_conversions == from_sim.unattributed_conversions
    # With GA4's own grouping, paths equal the simulated ones with channels grouped.
    grouped = ca.Journeys.from_events(events)
    expected = ca.Journeys.from_events(sim.events.assign(channel=sim.events["channel"].map(GROUP)))
    pdt.assert_frame_equal(grouped.paths(), expected.paths())


@pytest.mark.parametrize("fmt", ["json", "parquet"])
def test_every_format_reads_back_the_same_events(sim, events, fmt, tmp_path):
    sim.to_ga4(tmp_path, format=fmt, progress=False)
    other = ca.io.read_ga4(tmp_path, progress=False)
    pdt.assert_frame_equal(other, events)
    assert other.attrs == events.attrs


def test_streaming_in_small_batches_gives_the_same_events(exported, events):
    batches = ca.io.iter_ga4(exported[0], batch_rows=150, progress=False)
    frames = list(batches)
    assert len(frames) > 2 * len(exported[1])  # several batches per daily file
    assert all(f.attrs["rule_set"] == "ga4_default_2026_11" for f in frames)
    assert sum(f.attrs["rows_read"] for f in frames) == batches.stats.rows_read
    joined = pd.concat(frames, ignore_index=True)
    # Batches change which hit of a duplicate is read first, never which events exist.
    key = ["event_type", "timestamp", "anonymous_id", "channel", "value"]
    pdt.assert_frame_equal(
        joined[key].sort_values(key).reset_index(drop=True),
        events[key].sort_values(key).reset_index(drop=True),
    )
    assert batches.stats.to_dict() == {k: v for k, v in events.attrs.items() if k != "rule_set"}
