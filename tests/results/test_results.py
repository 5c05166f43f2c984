"""AttributionResult: table, serialisation, summary, plots and comparison."""

import json
import subprocess
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest

import causality as ca
from causality.errors import ConfigurationError
from causality.results import TABLE_COLUMNS, AttributionResult

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def journeys():
    return ca.Journeys.from_events(ca.datasets.load_example())


@pytest.fixture(scope="module")
def result(journeys):
    return ca.attribute(journeys, "linear", n_bootstrap=50)


def test_table_has_exactly_the_documented_columns(result):
    assert tuple(result.table.columns) == TABLE_COLUMNS
    assert result.table.index.name == "channel"
    np.testing.assert_allclose(result.table["share"].sum(), 1.0)


def test_result_records_its_metadata(result, journeys):
    assert result.model == "linear" and result.kind == "allocation"
    assert result.params == {"ci_level": 0.9, "n_bootstrap": 50, "seed": 0}
    assert result.n_journeys == len(journeys) == 4754
    assert result.unattributed_conversions == journeys.unattributed_conversions > 0
    assert result.window[0] < result.window[1]


def test_to_dict_round_trips_through_json(result):
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["causality_version"] == ca.__version__
    restored = AttributionResult.from_dict(data)
    pd.testing.assert_frame_equal(restored.table, result.table)
    assert restored.window == result.window
    assert restored.params == result.params and restored.seed == result.seed


def test_save_and_load_round_trip(tmp_path, result):
    path = result.save(tmp_path / "result.json")
    loaded = AttributionResult.load(path)
    pd.testing.assert_frame_equal(loaded.table, result.table)
    assert loaded.total_value == result.total_value


def test_loading_a_result_of_an_unknown_schema_version_is_a_clear_error(result):
    data = result.to_dict() | {"schema_version": 99}
    with pytest.raises(ConfigurationError, match="schema_version"):
        AttributionResult.from_dict(data)


def test_extras_frames_survive_serialisation(result):
    frame = pd.DataFrame({"a": [1.0, 2.0]}, index=pd.Index(["x", "y"], name="channel"))
    with_extras = AttributionResult(**{**result.__dict__, "extras": {"removal": frame, "k": 3}})
    restored = AttributionResult.from_dict(json.loads(json.dumps(with_extras.to_dict())))
    pd.testing.assert_frame_equal(restored.extras["removal"], frame)
    assert restored.extras["k"] == 3


def test_to_frame_is_tidy(result):
    frame = result.to_frame()
    assert list(frame.columns[:2]) == ["channel", "model"]
    assert (frame["model"] == "linear").all() and len(frame) == len(result.table)


def test_summary_prints_text_and_renders_html(result):
    text = str(result.summary())
    assert "linear (allocation)" in text and "Paid Search" in text and "90%" in text
    html = result.summary()._repr_html_()
    assert "<table" in html and "Paid Search" in html
    assert result._repr_html_() == html


def test_plot_returns_axes_with_one_bar_per_channel_and_whiskers(result):
    ax = result.plot()
    assert len(ax.patches) == len(result.table)
    assert ax.get_xlabel().startswith("conversions")
    assert {t.get_text() for t in ax.get_yticklabels()} == set(result.table.index)


def test_plot_draws_on_a_given_axes(result):
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    assert result.plot(ax=ax, metric="value") is ax
    with pytest.raises(ConfigurationError, match="metric"):
        result.plot(metric="revenue")


def test_compare_lines_results_up_side_by_side(journeys):
    results = [ca.attribute(journeys, m, n_bootstrap=20) for m in ("last_click", "linear")]
    results.append(ca.attribute(journeys, "linear", n_bootstrap=20, ci_level=0.5))
    frame = ca.compare(results)
    assert frame.columns.get_level_values("model").unique().tolist() == [
        "last_click",
        "linear",
        "linear#2",
    ]
    assert frame.columns.get_level_values("field").unique().tolist() == [
        "estimate",
        "lower",
        "upper",
        "share",
    ]
    pd.testing.assert_series_equal(
        frame[("linear", "estimate")].sort_index(),
        results[1].table["conversions"].sort_index(),
        check_names=False,
    )
    by_value = ca.compare(results[:2], metric="value", labels=["LC", "LIN"])
    np.testing.assert_allclose(by_value[("LC", "share")].sum(), 1.0)


def test_compare_rejects_bad_input(result):
    with pytest.raises(ConfigurationError):
        ca.compare([])
    with pytest.raises(ConfigurationError):
        ca.compare([result, result], labels=["same", "same"])


def test_importing_causality_stays_light():
    code = (
        "import sys, causality as ca; ca.Journeys; ca.attribute; "
        "heavy = [m for m in ('pymc', 'arviz', 'fastapi', 'matplotlib', 'pytensor') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
