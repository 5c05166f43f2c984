"""JSON export: JSON-safe, stable, and a round trip that loses nothing the report shows."""

import json

import numpy as np
import pytest

import causality as ca
from causality.reports import Report


def test_json_round_trip_rebuilds_the_same_report(hostile_report):
    text = hostile_report.to_json()
    again = Report.from_json(text)
    assert again.to_json() == text
    assert again.labels == hostile_report.labels and again.title == hostile_report.title
    for a, b in zip(again.results, hostile_report.results, strict=True):
        assert a.table.equals(b.table)
    assert again.truth.equals(hostile_report.truth)
    assert again.paths.equals(hostile_report.paths)
    assert again.to_html() == hostile_report.to_html()


def test_json_is_stable_and_strict(example_report, tmp_path):
    text = example_report.to_json(tmp_path / "r.json")
    assert text == example_report.to_json() == (tmp_path / "r.json").read_text(encoding="utf-8")
    data = json.loads(text)  # allow_nan=False when written: strict JSON
    assert data["report_schema_version"] == 1
    assert data["labels"] == ["last_click", "linear", "markov", "shapley"]
    assert data["headline"]["n_journeys"] == 4754
    assert data["top_paths"][0]["path"] == ["Paid Social"]


def test_json_results_are_the_results_own_to_dict(example_report, example_results):
    data = json.loads(example_report.to_json())
    for stored, result in zip(data["results"], example_results, strict=True):
        assert stored == json.loads(json.dumps(result.to_dict()))
        rebuilt = ca.AttributionResult.from_dict(stored)
        np.testing.assert_array_equal(rebuilt.table["conversions"], result.table["conversions"])


def test_reading_another_schema_version_is_a_clear_error(example_report):
    data = example_report.to_dict()
    data["report_schema_version"] = 99
    with pytest.raises(ca.errors.ConfigurationError, match="report_schema_version 99"):
        Report.from_dict(data)
