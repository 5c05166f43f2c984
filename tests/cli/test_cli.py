"""The `causality` command line."""

import json
import subprocess
import sys

import pandas as pd
import pytest

import causality as ca
from causality.cli import main
from causality.datasets import EXAMPLE_PATH


def test_models_lists_every_model_with_a_description(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ca.available_models():
        assert name in out
    assert "All credit to the last touch" in out


def test_attribute_prints_the_table_with_intervals(capsys):
    assert main(["attribute", str(EXAMPLE_PATH), "--model", "linear", "--n-bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "linear (allocation)" in out and "lower" in out and "Paid Search" in out


def test_attribute_json_output_is_a_serialised_result(capsys):
    args = [
        "attribute",
        str(EXAMPLE_PATH),
        "--format",
        "json",
        "--ci-level",
        "0.8",
        "--lookback",
        "14D",
        "--param",
        "half_life=3D",
        "--model",
        "time_decay",
    ]
    assert main(args) == 0
    result = ca.AttributionResult.from_dict(json.loads(capsys.readouterr().out))
    assert result.ci_level == 0.8 and result.params["half_life"] == "3D"


def test_attribute_reads_a_path_table_with_column_mapping(capsys, shared_data):
    args = [
        "attribute",
        str(shared_data / "channelattribution" / "Data.csv"),
        "--format",
        "csv",
        "--n-bootstrap",
        "0",
        "--column",
        "conversions=total_conversions",
        "--column",
        "value=total_conversion_value",
        "--column",
        "nulls=total_null",
    ]
    assert main(args) == 0
    from io import StringIO

    frame = pd.read_csv(StringIO(capsys.readouterr().out))
    assert frame["conversions"].sum() == pytest.approx(19785)


def test_attribute_reads_parquet_with_column_mapping(tmp_path, capsys):
    events = ca.datasets.load_example().rename(columns={"user_id": "uid"})
    path = tmp_path / "events.parquet"
    events.to_parquet(path)
    assert main(["attribute", str(path), "--column", "user=uid", "--format", "csv"]) == 0
    assert "last_click" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nope"], "Available models"),
        (["--param", "first=2"], "first"),
        (["--param", "oops"], "NAME=VALUE"),
        (["--column", "colour=x"], "colour"),
        (["--ci-level", "2"], "ci_level"),
    ],
)
def test_attribute_reports_bad_input_as_an_error_line(capsys, args, message):
    model = [] if "--model" in args else ["--model", "position_based"]
    assert main(["attribute", str(EXAMPLE_PATH), *model, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_attribute_missing_file_is_a_clear_error(capsys, tmp_path):
    assert main(["attribute", str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_demo_prints_every_model_side_by_side(capsys):
    assert main(["demo", "--n-bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    for name in ca.available_models():
        assert name in out
    assert "[90% interval]" in out


def test_python_dash_m_runs_the_cli():
    out = subprocess.run(
        [sys.executable, "-m", "causality", "models"], capture_output=True, text=True, check=True
    )
    assert "last_click" in out.stdout
