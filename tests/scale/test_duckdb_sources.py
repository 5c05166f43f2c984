"""Sources the DuckDB path reads (files, globs, folders, Arrow, relations) and its engine."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pytest

import causality as ca
from causality.errors import JourneyValidationError
from tests.scale.logs import assert_same_journeys

duckdb = pytest.importorskip("duckdb")
from causality.journeys.duckdb_events import journeys_from_duckdb  # noqa: E402
from causality.journeys.duckdb_source import open_source, query  # noqa: E402


def small_log() -> pd.DataFrame:
    """Two users, one stitched anonymous id, ties at equal timestamps, an extra column."""
    t0 = pd.Timestamp("2024-03-01")
    rows = [
        (None, "a1", 0, "touch", "Display", np.nan, "mobile"),
        ("u1", "a1", 1, "identify", None, np.nan, "mobile"),
        ("u1", None, 2, "touch", "Email", np.nan, "desktop"),
        ("u1", None, 2, "conversion", None, 30.0, "desktop"),
        ("u1", None, 2, "touch", "Search", np.nan, "desktop"),  # after the conversion: next journey
        ("u2", None, 5, "touch", "Search", np.nan, "tablet"),
        ("u2", None, 40, "conversion", None, 12.5, "tablet"),  # its touch is out of lookback
        (None, "a2", 7, "touch", "Display", np.nan, "mobile"),
    ]
    return pd.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "anonymous_id": [r[1] for r in rows],
            "timestamp": [t0 + pd.Timedelta(days=r[2]) for r in rows],
            "event_type": [r[3] for r in rows],
            "channel": [r[4] for r in rows],
            "value": [r[5] for r in rows],
            "device": [r[6] for r in rows],
        }
    )


@pytest.fixture
def events() -> pd.DataFrame:
    return small_log()


@pytest.fixture
def expected(events) -> ca.Journeys:
    return ca.Journeys.from_events(events, lookback="30D")


def test_small_log_has_the_hand_computed_journeys(expected):
    # u1: Display (stitched from a1) > Email, converting 30.0; then Search, not converting.
    # u2: its Search touch is 35 days before its conversion, out of the 30-day lookback, so
    # the conversion is unattributed; a2: one non-converting Display touch.
    paths = expected.paths().set_index("path")[["conversions", "value", "nulls"]]
    assert paths.to_dict("index") == {
        "Display > Email": {"conversions": 1, "value": 30, "nulls": 0},
        "Display": {"conversions": 0, "value": 0, "nulls": 1},
        "Search": {"conversions": 0, "value": 0, "nulls": 1},
    }
    assert expected.unattributed_conversions == 1.0
    assert expected.unattributed_value == 12.5


def test_parquet_file_and_path_object(events, expected, tmp_path):
    path = tmp_path / "events.parquet"
    events.to_parquet(path)  # with pandas' index metadata, which is not an attribute
    assert_same_journeys(ca.Journeys.from_events(path), expected)
    assert_same_journeys(ca.Journeys.from_events(str(path)), expected)


def test_glob_and_folder_read_files_in_name_order(events, expected, tmp_path):
    # The tie at day 2 spans both files: file order decides which touch comes first.
    events.iloc[:4].to_parquet(tmp_path / "part-0.parquet", index=False)
    events.iloc[4:].to_parquet(tmp_path / "part-1.parquet", index=False)

    assert_same_journeys(ca.Journeys.from_events(str(tmp_path / "part-*.parquet")), expected)
    assert_same_journeys(ca.Journeys.from_events(tmp_path), expected)


def test_csv_file_gives_the_journeys_of_pandas_read_csv(events, tmp_path):
    path = tmp_path / "events.csv"
    events.assign(timestamp=events["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(
        path, index=False
    )
    expected = ca.Journeys.from_events(pd.read_csv(path))

    assert_same_journeys(ca.Journeys.from_events(str(path)), expected)


def test_arrow_table_dataset_and_duckdb_relation(events, expected):
    table = pa.Table.from_pandas(events, preserve_index=False)
    connection = duckdb.connect()
    relation = connection.from_arrow(table)

    assert_same_journeys(ca.Journeys.from_events(table), expected)
    assert_same_journeys(ca.Journeys.from_events(pads.dataset(table)), expected)
    assert_same_journeys(ca.Journeys.from_events(relation), expected)
    connection.close()


def test_arrow_table_without_duckdb_goes_through_pandas(events, expected, monkeypatch):
    monkeypatch.setitem(sys.modules, "duckdb", None)  # import duckdb now fails
    table = pa.Table.from_pandas(events, preserve_index=False)

    assert_same_journeys(ca.Journeys.from_events(table), expected)


def test_path_without_duckdb_names_the_extra(tmp_path, events, monkeypatch):
    path = tmp_path / "events.parquet"
    events.to_parquet(path)
    monkeypatch.setitem(sys.modules, "duckdb", None)

    with pytest.raises(ImportError, match=r"causality\[duckdb\]"):
        ca.Journeys.from_events(path)


def test_missing_file_and_unknown_format_raise_validation_errors(tmp_path):
    with pytest.raises(JourneyValidationError, match="no such file"):
        ca.Journeys.from_events(tmp_path / "nothing-*.parquet")
    (tmp_path / "events.xlsx").write_bytes(b"")
    with pytest.raises(JourneyValidationError, match="format"):
        ca.Journeys.from_events(tmp_path / "events.xlsx")


def test_engine_is_capped_offline_and_cleans_its_spill_folder(events):
    table = pa.Table.from_pandas(events, preserve_index=False)
    with open_source(table, memory_limit="300MB", threads=1) as opened:
        names = (
            "memory_limit",
            "threads",
            "temp_directory",
            "autoinstall_known_extensions",
            "autoload_known_extensions",
            "TimeZone",
        )
        sql = "SELECT " + ", ".join(f"current_setting('{n}')" for n in names)
        limit, threads, spill, autoinstall, autoload, zone = query(opened, sql).fetchall()[0]
        assert Path(spill).is_dir()
    assert limit.replace(" ", "") in {"300.0MB", "286.1MiB"}
    assert threads == 1
    assert autoinstall is False and autoload is False
    assert zone == "UTC"
    assert not Path(spill).exists()


def test_a_tight_memory_limit_spills_and_changes_nothing(tmp_path):
    # 200,000 events sorted under a 20 MB cap: DuckDB spills (about 5 MB of temporary files
    # when measured), and the journeys stay exact.
    rng = np.random.default_rng(7)
    n = 200_000
    kind = rng.choice(["touch", "conversion"], n, p=[0.93, 0.07])
    frame = pd.DataFrame(
        {
            "user_id": pd.Series(rng.integers(0, 20_000, n)).map("user-{:06d}".format),
            "timestamp": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 60 * 86_400, n), unit="s"),
            "event_type": kind,
            "channel": np.where(kind == "touch", rng.choice(list("ABCDEFG"), n), None),
            "value": np.where(kind == "conversion", rng.gamma(2.0, 20.0, n), np.nan),
        }
    )
    path = tmp_path / "events.parquet"
    frame.to_parquet(path, index=False)
    spill = tmp_path / "spill"

    got = journeys_from_duckdb(path, memory_limit="20MB", threads=1, temp_directory=spill)

    assert_same_journeys(got, ca.Journeys.from_events(frame))


def test_extra_columns_keep_the_dtypes_pandas_gives_them(events):
    n = len(events)
    table = pa.Table.from_pandas(events, preserve_index=False).append_column(
        "visits", pa.array([1, None, 3, 4, 5, None, 7, 8], pa.int64())
    )
    table = table.append_column("returning", pa.array([True, None] + [False] * (n - 2)))
    table = table.append_column(
        "first_seen",
        pa.array(np.arange(n) * 10**12, pa.timestamp("ns", tz="Europe/Paris")),
    )
    table = table.append_column("score", pa.array(np.linspace(0, 1, n)))
    table = table.append_column("user", pa.array(["x"] * n))  # clashes with the user attribute
    expected = ca.Journeys.from_events(table.to_pandas())

    got = ca.Journeys.from_events(table)

    assert_same_journeys(got, expected)
    assert list(got.attributes.columns) == [
        "user", "offline", "device", "visits", "returning", "first_seen", "score",
        "user_attribute",
    ]  # fmt: skip


def test_columns_with_spaces_and_quotes_in_their_names(events, expected):
    odd = {"user_id": 'user "id"', "timestamp": "event time", "channel": "it's channel"}
    table = pa.Table.from_pandas(events.rename(columns=odd), preserve_index=False)

    got = ca.Journeys.from_events(
        table, user='user "id"', timestamp="event time", channel="it's channel"
    )

    assert_same_journeys(got, expected)
