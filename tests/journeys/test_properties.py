"""Invariants of Journeys.from_events on random small event logs (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import causality as ca

T0 = pd.Timestamp("2024-01-01")
CHANNELS = ("A", "B", "C", "D")
# (user_id, anonymous_id): user-only, anonymous-only and linking rows, conflicts included.
IDENTITIES = (
    ("u1", None),
    ("u2", None),
    ("u3", None),
    (None, "a1"),
    (None, "a2"),
    ("u1", "a1"),
    ("u2", "a1"),
    ("u3", "a2"),
)
KINDS = ("touch", "touch", "touch", "conversion", "identify")

PROPERTY_SETTINGS = settings(max_examples=50, deadline=None)
pytestmark = pytest.mark.filterwarnings("ignore::causality.errors.DataWarning")

event_row = st.tuples(
    st.sampled_from(IDENTITIES),
    st.integers(0, 96),  # hours: a narrow range, so equal timestamps are common
    st.sampled_from(KINDS),
    st.sampled_from(CHANNELS),
    st.sampled_from([0.0, 1.0, 2.5, 40.0]),
)
lookbacks = st.sampled_from([None, "1D", "36h", "3D"])


@st.composite
def event_logs(draw) -> pd.DataFrame:
    rows = draw(st.lists(event_row, min_size=1, max_size=14))
    if not any(kind == "conversion" for _, _, kind, _, _ in rows):
        index = draw(st.integers(0, len(rows) - 1))
        ids, hours, _, channel, value = rows[index]
        rows[index] = (ids, hours, "conversion", channel, value)
    return pd.DataFrame(
        {
            "user_id": [ids[0] for ids, *_ in rows],
            "anonymous_id": [ids[1] for ids, *_ in rows],
            "timestamp": [T0 + pd.Timedelta(hours=h) for _, h, *_ in rows],
            "event_type": [kind for _, _, kind, _, _ in rows],
            "channel": [c if kind == "touch" else None for _, _, kind, c, _ in rows],
            "value": [v if kind == "conversion" else np.nan for _, _, kind, _, v in rows],
        }
    )


def paths_dict(journeys: ca.Journeys, sep: str = " > ") -> dict[str, tuple[float, float, float]]:
    return {
        r.path: (r.conversions, r.value, r.nulls)
        for r in journeys.paths(sep=sep).itertuples(index=False)
    }


def reference_journeys(events: pd.DataFrame, lookback: str | None):
    """A direct, loop-by-loop reading of the documented contract."""
    delta = None if lookback is None else pd.Timedelta(lookback)
    rows = [
        r._replace(
            user_id=None if pd.isna(r.user_id) else r.user_id,
            anonymous_id=None if pd.isna(r.anonymous_id) else r.anonymous_id,
        )
        for r in events.itertuples(index=False)
    ]
    # Identity: an anonymous id belongs to the first user it is linked to (time, then row).
    links = sorted(
        (r.timestamp, i, r.anonymous_id, r.user_id)
        for i, r in enumerate(rows)
        if r.user_id is not None and r.anonymous_id is not None
    )
    owner: dict[str, str] = {}
    for _, _, anon, user in links:
        owner.setdefault(anon, user)
    people: dict[str, list] = {}
    for i, r in enumerate(rows):
        person = (
            r.user_id if r.user_id is not None else owner.get(r.anonymous_id, "~" + r.anonymous_id)
        )
        people.setdefault(person, []).append((r.timestamp, i, r))
    out: dict[str, list[float]] = {}
    unattributed = [0.0, 0.0]

    def add(touches, conversions, value, nulls):
        entry = out.setdefault(" > ".join(touches), [0.0, 0.0, 0.0])
        entry[0] += conversions
        entry[1] += value
        entry[2] += nulls

    for events_of_person in people.values():
        pending: list[tuple[pd.Timestamp, str]] = []
        for t, _, r in sorted(events_of_person, key=lambda e: (e[0], e[1])):
            if r.event_type == "touch":
                pending.append((t, r.channel))
            elif r.event_type == "conversion":
                kept = [c for s, c in pending if delta is None or s >= t - delta]
                if kept:
                    add(kept, 1.0, r.value, 0.0)
                else:
                    unattributed[0] += 1.0
                    unattributed[1] += r.value
                pending = []
        if pending:
            last = pending[-1][0]
            add([c for s, c in pending if delta is None or s >= last - delta], 0.0, 0.0, 1.0)
    return {k: tuple(v) for k, v in out.items()}, tuple(unattributed)


def order_preserving_ties(events: pd.DataFrame, permutation: list[int]) -> pd.DataFrame:
    """Reorder rows by ``permutation``, except rows with equal timestamps keep input order."""
    order = np.asarray(permutation)
    stamps = events["timestamp"].to_numpy()[order]
    for stamp in np.unique(stamps):
        slots = np.flatnonzero(stamps == stamp)
        order[slots] = np.sort(order[slots])
    return events.iloc[order]


@PROPERTY_SETTINGS
@given(data=st.data(), lookback=lookbacks)
def test_row_order_does_not_change_paths(data, lookback):
    events = data.draw(event_logs())
    permutation = data.draw(st.permutations(range(len(events))))
    shuffled = order_preserving_ties(events, permutation)

    original = ca.Journeys.from_events(events, lookback=lookback)
    reordered = ca.Journeys.from_events(shuffled, lookback=lookback)

    pd.testing.assert_frame_equal(original.paths(), reordered.paths())
    assert original.unattributed_conversions == reordered.unattributed_conversions
    assert original.unattributed_value == pytest.approx(reordered.unattributed_value)
    assert original.channels == reordered.channels
    assert original.window == reordered.window


@PROPERTY_SETTINGS
@given(events=event_logs(), lookback=lookbacks)
def test_attributed_plus_unattributed_conversions_equal_conversion_rows(events, lookback):
    journeys = ca.Journeys.from_events(events, lookback=lookback)
    is_conversion = events["event_type"] == "conversion"

    assert journeys.total_conversions + journeys.unattributed_conversions == is_conversion.sum()
    assert journeys.total_value + journeys.unattributed_value == pytest.approx(
        events.loc[is_conversion, "value"].sum()
    )


@PROPERTY_SETTINGS
@given(events=event_logs(), lookback=lookbacks)
def test_every_journey_has_a_touch_and_touches_never_exceed_touch_rows(events, lookback):
    journeys = ca.Journeys.from_events(events, lookback=lookback)

    assert np.all(journeys.lengths >= 1)
    assert len(set(journeys.channels)) == len(journeys.channels)
    assert list(journeys.channels) == sorted(journeys.channels)
    assert journeys.n_touches <= int((events["event_type"] == "touch").sum())
    assert journeys.offsets[0] == 0
    assert journeys.offsets[-1] == journeys.n_touches
    assert len(journeys) == journeys.n_records
    np.testing.assert_array_equal(journeys.conversions + journeys.nulls, 1.0)


@PROPERTY_SETTINGS
@given(
    events=event_logs(),
    lookback=lookbacks,
    new_names=st.permutations(["zulu", "Alpha", "Paid Search", "x>y"]),
)
def test_renaming_channels_by_a_bijection_renames_paths(events, lookback, new_names):
    mapping = dict(zip(CHANNELS, new_names, strict=True))
    renamed_events = events.assign(channel=events["channel"].map(mapping))

    original = ca.Journeys.from_events(events, lookback=lookback)
    renamed = ca.Journeys.from_events(renamed_events, lookback=lookback)

    expected = {
        " > ".join(mapping[c] for c in path.split(" > ")): totals
        for path, totals in paths_dict(original).items()
    }
    assert paths_dict(renamed) == expected
    assert renamed.channels == tuple(sorted(mapping[c] for c in original.channels))
    assert renamed.unattributed_conversions == original.unattributed_conversions


@PROPERTY_SETTINGS
@given(events=event_logs(), lookback=lookbacks)
def test_paths_match_a_direct_reading_of_the_contract(events, lookback):
    journeys = ca.Journeys.from_events(events, lookback=lookback)
    expected, (unattributed, unattributed_value) = reference_journeys(events, lookback)

    got = paths_dict(journeys)
    assert got.keys() == expected.keys()
    for path, totals in expected.items():
        assert got[path] == pytest.approx(totals), path
    assert journeys.unattributed_conversions == unattributed
    assert journeys.unattributed_value == pytest.approx(unattributed_value)


@PROPERTY_SETTINGS
@given(events=event_logs(), lookback=lookbacks)
def test_path_table_of_event_journeys_rebuilds_the_same_paths(events, lookback):
    journeys = ca.Journeys.from_events(events, lookback=lookback)
    if journeys.n_records == 0:
        return
    rebuilt = ca.Journeys.from_paths(journeys.paths())

    pd.testing.assert_frame_equal(rebuilt.paths(), journeys.paths())
    assert len(rebuilt) == len(journeys)
