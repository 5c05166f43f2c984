"""Property tests of event validation (R-E-1, R-E-7): omissions and limits, generated."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from causality.api.validation import validate_event

BASE = {
    "touch": {
        "event_type": "touch",
        "timestamp": "2026-11-28T09:59:58.120+01:00",
        "user_id": "u1",
        "channel": {"source": "google", "medium": "cpc"},
    },
    "conversion": {
        "event_type": "conversion",
        "timestamp": "2026-11-28T09:59:58Z",
        "anonymous_id": "a1",
        "conversion": {"name": "purchase", "value": "1.00"},
    },
    "identify": {
        "event_type": "identify",
        "timestamp": "2026-11-28T09:59:58Z",
        "user_id": "u1",
        "anonymous_id": "a1",
    },
}
REQUIRED = {
    "touch": {"event_type", "timestamp", "user_id", "channel"},
    "conversion": {"event_type", "timestamp", "anonymous_id", "conversion"},
    "identify": {"event_type", "timestamp", "user_id", "anonymous_id"},
}
POINTER = {  # where the error points when a required field is dropped
    "event_type": "event_type",
    "timestamp": "timestamp",
    "user_id": "user_id",
    "anonymous_id": "anonymous_id",
    "channel": "channel",
    "conversion": "conversion/name",
}


def codes(event: dict, index: int = 0) -> set[tuple[str, str]]:
    parsed, errors = validate_event(event, index)
    assert (parsed is None) == bool(errors)
    return {(e["pointer"], e["code"]) for e in errors}


@given(
    kind=st.sampled_from(sorted(BASE)),
    dropped=st.data(),
    index=st.integers(min_value=0, max_value=499),
)
def test_every_omitted_required_field_is_reported_with_its_pointer(kind, dropped, index):
    missing = dropped.draw(st.sets(st.sampled_from(sorted(REQUIRED[kind])), min_size=1))
    event = {k: v for k, v in BASE[kind].items() if k not in missing}
    found = codes(event, index)
    for field in missing:
        if (field == "user_id" and kind == "touch") or (
            field == "anonymous_id" and kind == "conversion"
        ):
            field_pointer = "user_id"  # "user_id or anonymous_id" is reported at /user_id
        else:
            field_pointer = POINTER[field]
        if "event_type" in missing and field != "event_type":
            continue  # without a type, only shape errors are reported
        assert (f"/events/{index}/{field_pointer}", "missing_field") in found


@given(
    length=st.integers(min_value=0, max_value=300),
    field=st.sampled_from(["user_id", "anonymous_id"]),
)
def test_ids_need_1_to_255_characters(length, field):
    event = dict(BASE["identify"], **{field: "x" * length})
    found = codes(event)
    if 1 <= length <= 255:
        assert found == set()
    else:
        assert found == {(f"/events/0/{field}", "too_short" if length == 0 else "too_long")}


@given(length=st.integers(min_value=1, max_value=130))
def test_event_ids_up_to_100_characters(length):
    found = codes(dict(BASE["touch"], event_id="e" * length))
    assert found == (set() if length <= 100 else {("/events/0/event_id", "too_long")})


@given(name=st.text(min_size=1, max_size=70))
def test_names_follow_the_ga4_pattern(name):
    valid = (
        len(name) <= 64
        and name[0].isascii()
        and name[0].isalpha()
        and all(c.isascii() and (c.isalnum() or c == "_") for c in name)
    )
    found = codes(dict(BASE["touch"], name=name))
    assert (found == set()) == valid


@given(
    whole=st.integers(min_value=0, max_value=10**9),
    decimals=st.integers(min_value=0, max_value=9),
    sign=st.sampled_from(["", "-"]),
)
def test_values_are_non_negative_with_at_most_six_decimals(whole, decimals, sign):
    text = f"{sign}{whole}" + (f".{'5' * decimals}" if decimals else "")
    event = dict(BASE["conversion"], conversion={"name": "purchase", "value": text})
    found = codes(event)
    ok = (sign == "" or (whole == 0 and decimals == 0)) and decimals <= 6
    assert (found == set()) == ok, text


@given(n_keys=st.integers(min_value=0, max_value=130), depth=st.integers(min_value=1, max_value=7))
def test_properties_limits(n_keys, depth):
    nested: object = 1
    for _ in range(depth - 1):
        nested = {"k": nested}
    props = {f"p{i}": i for i in range(n_keys)}
    props["deep"] = nested
    found = codes(dict(BASE["touch"], properties=props))
    ok = len(props) <= 100 and depth <= 5
    assert (found == set()) == ok
    if not ok:
        assert found == {("/events/0/properties", "properties_too_large")}


@given(
    stamp=st.datetimes(allow_imaginary=False),
    offset=st.sampled_from(["Z", "+01:00", "-05:30", "+14:00", ""]),
)
def test_timestamps_need_an_offset(stamp, offset):
    text = stamp.isoformat() + offset
    found = codes(dict(BASE["touch"], timestamp=text))
    assert (found == set()) == (offset != "" and stamp.year >= 1)
    if offset == "":
        assert found == {("/events/0/timestamp", "invalid_timestamp")}
