"""The column-wise screen of a batch answers exactly as the per-item path (R-E-1..7, R-E-11).

`prepare_batch` screens a batch as columns and sends only the events the screen does not
pass through the per-item path. These tests run every generated batch both ways, the
second with the screen switched off, and demand the same statuses, errors, rows, click
ids and warnings, for good and bad events alike.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causality.api import ingest
from causality.api.ingest import Batch, prepare_batch
from causality.api.screening import screen_events
from causality.api.settings import Settings
from causality.api.timeutil import to_micros

NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
SETTINGS = Settings(data_dir=Path("unused"), currency="EUR")


def _at(**delta: float) -> str:
    return (NOW + timedelta(**delta)).isoformat()


MISSING = object()  # the field is left out of the event
TIMESTAMPS = [
    "2026-11-28T09:59:58Z",
    "2026-11-28T09:59:58.120+01:00",
    "2026-11-28t08:00:00-05:30",
    _at(minutes=9),
    _at(minutes=11),  # in the future
    _at(days=-6),
    _at(days=-8),  # too old for online events, fine for offline conversions
    _at(days=-91),
    "1999-12-31T23:59:59Z",  # before the floor
    "2026-11-28T09:59:58",  # no offset
    "2026-11-28",
    "2026-02-30T10:00:00Z",  # no such day
    "yesterday",
    1_764_320_000,
]
IDS = [MISSING, None, "u1", "u2", "", "x" * 256, 7]
CHANNELS = [
    MISSING,
    None,
    {},
    {"source": "google", "medium": "cpc"},
    {"source": "newsletter", "medium": "email", "campaign": "nov"},
    {"channel_group": "Email"},
    {"channel_group": ""},
    {"source": ""},
    {"referrer": "https://www.example.com/page"},
    {"click_ids": {"gclid": "g1"}},
    {"click_ids": {"msclkid": "m1", "gclid": "g2"}},  # matched in gclid, fbclid, msclkid order
    {"click_ids": {"fbclid": ""}},
    {"click_ids": {}},
    {"source": "x" * 1025},
    {"medium": 3},
    {"utm": "x"},
    "google",
]
CONVERSIONS = [
    MISSING,
    None,
    {},
    {"name": "purchase", "value": "42.50"},
    {"name": "purchase", "value": 3, "currency": "EUR", "order_id": "o1"},
    {"name": "purchase", "value": 1.5, "currency": "USD"},  # not the workspace currency
    {"name": "lead", "offline": True, "source_system": "crm"},
    {"name": "lead", "offline": False},
    {"value": "1.00"},
    {"name": "bad name"},
    {"name": "purchase", "value": "-1"},
    {"name": "purchase", "value": True},
    {"name": "purchase", "value": "1.0000001"},
    {"name": "purchase", "currency": "XXX1"},
    {"name": "purchase", "offline": "yes"},
]


def _field(values: list[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from(values)


@st.composite
def events(draw: st.DrawFn) -> Any:
    """An event: mostly plausible, often with one or more problems."""
    if draw(st.integers(0, 30)) == 0:
        return draw(_field(["not an event", 3, None, ["touch"]]))
    fields = {
        "event_id": draw(_field([MISSING, None, "e1", "e2", "", "x" * 101, 4])),
        "event_type": draw(_field(["touch"] * 4 + ["conversion"] * 3 + ["identify", "page", 1])),
        "timestamp": draw(_field(TIMESTAMPS[:3] * 4 + TIMESTAMPS + [MISSING])),
        "user_id": draw(_field(IDS)),
        "anonymous_id": draw(_field(IDS)),
        "channel": draw(_field(CHANNELS)),
        "conversion": draw(_field(CONVERSIONS)),
        "name": draw(_field([MISSING, MISSING, None, "signup", "9lives"])),
        "properties": draw(_field([MISSING, MISSING, None, {"b": 1, "a": [1, {"c": "d"}]}, [1]])),
        "extra": draw(_field([MISSING] * 8 + [1])),
    }
    return {k: v for k, v in fields.items() if v is not MISSING}


batches = st.fixed_dictionaries(
    {"events": st.lists(events(), min_size=1, max_size=12)},
    optional={
        "sent_at": _field([_at(hours=1), _at(seconds=-30), "2026-11-28T11:00:00+01:00"]),
        "context": _field([{"user_id": "ctx"}, {"channel": {"medium": "email"}}]),
    },
)


def outcome(batch: Batch) -> dict[str, Any]:
    """Everything an answer and the stored rows depend on; generated ids are masked."""
    items = []
    for item in batch.items:
        state = dataclasses.asdict(item)
        if item.generated_id:
            state["event_id"] = "<generated>"
            state["row"] = {**item.row, "event_id": "<generated>"}
        items.append(state)
    return {"items": items, "warnings": batch.warnings}


def per_item(data: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Batch:
    """`prepare_batch` with the screen off: every event takes the per-item path."""
    with monkeypatch.context() as patch:
        patch.setattr(ingest, "screen_events", lambda events, **_: [None] * len(events))
        return prepare_batch(data, SETTINGS, NOW)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=batches)
def test_screened_batches_answer_exactly_as_the_per_item_path(data, monkeypatch):
    assert outcome(prepare_batch(data, SETTINGS, NOW)) == outcome(per_item(data, monkeypatch))


def test_the_screen_passes_a_typical_batch_whole():
    events = [
        {
            "event_id": f"e{k}",
            "event_type": "touch",
            "timestamp": _at(minutes=-k),
            "user_id": f"u{k % 7}",
            "channel": {"source": "google", "medium": "cpc"},
        }
        for k in range(50)
    ] + [
        {
            "event_type": "conversion",
            "timestamp": "2026-11-28T10:59:00+01:00",
            "anonymous_id": "a1",
            "conversion": {"name": "purchase", "value": "49.90", "order_id": "o9"},
        },
        {
            "event_id": "i1",
            "event_type": "identify",
            "timestamp": _at(days=-30),  # identifies have no age limit
            "user_id": "u1",
            "anonymous_id": "a1",
        },
    ]
    screened = screen_events(events, sent_at=None, received_us=to_micros(NOW), settings=SETTINGS)
    assert all(s is not None for s in screened)
    conversion = screened[50]
    assert conversion.generated_id and conversion.event_id == conversion.row["event_id"]
    assert conversion.row["ts"] == to_micros(datetime(2026, 11, 28, 9, 59, tzinfo=UTC))
    assert (conversion.row["value"], conversion.row["currency"]) == (49.9, "EUR")
    assert conversion.row["original_timestamp"] == "2026-11-28T10:59:00+01:00"


def test_the_screen_leaves_each_problem_event_to_the_per_item_path():
    good = {
        "event_type": "touch",
        "timestamp": "2026-11-28T09:00:00Z",
        "user_id": "u1",
        "channel": {"source": "google"},
    }
    bad = [
        {**good, "timestamp": "2026-11-28T09:00:00"},  # no offset
        {**good, "timestamp": _at(minutes=11)},  # future
        {**good, "channel": {"campaign": ""}},  # no channel
        {**good, "user_id": ""},  # shape
        {**good, "conversion": {"name": "x", "currency": "USD"}},  # currency
        {"event_type": "identify", "timestamp": "2026-11-28T09:00:00Z", "user_id": "u1"},
    ]
    screened = screen_events(
        [good, *bad, good], sent_at=None, received_us=to_micros(NOW), settings=SETTINGS
    )
    assert [s is not None for s in screened] == [True] + [False] * len(bad) + [True]


def test_sent_at_corrects_the_clock_in_the_screen_too():
    # The client's clock is an hour fast: its event at 10:59 (its clock) happened at 09:59.
    event = {
        "event_id": "skew",
        "event_type": "touch",
        "timestamp": "2026-11-28T10:59:00Z",
        "user_id": "u1",
        "channel": {"source": "google"},
    }
    sent_at = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
    [accepted] = screen_events(
        [event], sent_at=to_micros(sent_at), received_us=to_micros(NOW), settings=SETTINGS
    )
    assert accepted is not None
    assert accepted.row["ts"] == to_micros(datetime(2026, 11, 28, 9, 59, tzinfo=UTC))
    assert accepted.row["sent_at"] == to_micros(sent_at)
