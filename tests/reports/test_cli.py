"""`causality report` end to end on the example data."""

import json

import pytest

import causality as ca
from causality.cli import main
from causality.datasets import EXAMPLE_PATH

from .htmltables import tables

ARGS = ["--models", "last_click,linear,markov", "--n-bootstrap", "20"]


def test_report_writes_html_from_the_example_events(tmp_path, capsys):
    out = tmp_path / "report.html"
    assert (
        main(["report", str(EXAMPLE_PATH), *ARGS, "--title", "Shop <Q2>", "--out", str(out)]) == 0
    )
    page = out.read_text(encoding="utf-8")
    assert "<h1>Shop &lt;Q2&gt;</h1>" in page
    assert [a["data-model"] for a, _ in tables(page, "channel-table")] == [
        "last_click",
        "linear",
        "markov",
    ]
    assert len(tables(page, "paths-table")) == 1 and page.count("<svg ") == 2
    err = capsys.readouterr().err
    assert "fitting markov..." in err and f"wrote {out}" in err


def test_report_json_matches_the_library(tmp_path):
    out = tmp_path / "report.json"
    args = ["report", str(EXAMPLE_PATH), *ARGS, "--ci-level", "0.8", "--lookback", "14D"]
    assert main([*args, "--out", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    journeys = ca.Journeys.from_events(ca.datasets.load_example(), lookback="14D")
    expected = ca.attribute(journeys, "markov", n_bootstrap=20, ci_level=0.8)
    stored = ca.AttributionResult.from_dict(data["results"][2])
    assert stored.ci_level == 0.8
    assert stored.table["conversions"].equals(expected.table["conversions"])
    assert stored.table["conversions_lower"].equals(expected.table["conversions_lower"])


def test_report_csv_with_column_mapping(tmp_path):
    events = ca.datasets.load_example().rename(columns={"user_id": "uid"})
    source = tmp_path / "events.parquet"
    events.to_parquet(source)
    out = tmp_path / "credit.csv"
    args = ["report", str(source), "--models", "last_click", "--column", "user=uid"]
    assert main([*args, "--out", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("model,kind,ci_level,entry,channel,conversions")
    assert len(lines) == 1 + 7


def test_report_skips_a_model_whose_extra_is_missing(tmp_path, capsys, monkeypatch):
    import causality.attribution

    real = causality.attribution.attribute

    def without_shapley(journeys, model, **params):
        if model == "shapley":
            raise ImportError("the shapley model needs X: pip install 'causality[x]'")
        return real(journeys, model, **params)

    monkeypatch.setattr(causality.attribution, "attribute", without_shapley)
    out = tmp_path / "r.json"
    models = ["--models", "last_click,shapley", "--n-bootstrap", "0"]
    assert main(["report", str(EXAMPLE_PATH), *models, "--out", str(out)]) == 0
    assert "skipped shapley: the shapley model needs X: pip install" in capsys.readouterr().err
    assert json.loads(out.read_text())["labels"] == ["last_click"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "report.docx"], "cannot tell the report format"),
        (["--out", "missing-folder/r.html"], "does not exist"),
        (["--models", "last_click,nope", "--out", "r.json"], "Available models"),
        (["--models", " , ", "--out", "r.json"], "--models is empty"),
        (["--column", "colour=x", "--out", "r.json"], "colour"),
    ],
)
def test_report_bad_input_is_an_error_line(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(EXAMPLE_PATH), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_report_reads_a_path_table(tmp_path, shared_data):
    out = tmp_path / "r.json"
    args = [
        "report",
        str(shared_data / "channelattribution" / "Data.csv"),
        "--models",
        "last_click,linear",
        "--n-bootstrap",
        "0",
        "--column",
        "conversions=total_conversions",
        "--column",
        "value=total_conversion_value",
        "--column",
        "nulls=total_null",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    data = json.loads(out.read_text())
    assert data["headline"]["attributed_conversions"] == pytest.approx(19785)
    assert data["headline"]["period_start"] is None
