"""CSV export: RFC 4180, the results' exact numbers, and no formula injection."""

import csv
import io

import pytest

from causality.reports.content import CHANNEL_FRAME_COLUMNS
from causality.reports.tabular import csv_text, safe_cell

from .conftest import HOSTILE


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+41 22 000", "'+41 22 000"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTab", "'\tTab"),
        ("\rCR", "'\rCR"),
        ("-1.5", "-1.5"),  # a genuine number stays a number
        ("+3e5", "+3e5"),
        (-10.899769, "-10.899769"),
        (7, "7"),
        ("Paid Search", "Paid Search"),
        ("a=b", "a=b"),  # only the first character matters
        (float("nan"), ""),
        (None, ""),
    ],
)
def test_safe_cell_defuses_formulas_but_keeps_numbers(cell, written):
    assert safe_cell(cell) == written


def _read(text):
    return list(csv.reader(io.StringIO(text, newline="")))


def test_csv_is_rfc_4180(hostile_report, tmp_path):
    path = hostile_report.to_csv(tmp_path / "report.csv")
    raw = path.read_bytes()
    assert raw.count(b"\r\n") == len(hostile_report.channel_table()) + 1  # header + rows
    assert b'"=HYPERLINK(""x"",""y"")"' not in raw  # defused before quoting...
    assert b'"\'=HYPERLINK(""x"",""y"")"' in raw  # ...and quotes doubled
    rows = _read(raw.decode("utf-8"))
    assert rows[0] == [*CHANNEL_FRAME_COLUMNS, "truth"]
    assert all(len(row) == len(rows[0]) for row in rows)


def test_no_cell_starts_a_formula(hostile_report, tmp_path):
    rows = _read(hostile_report.to_csv(tmp_path / "r.csv").read_text(encoding="utf-8"))
    for row in rows:
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                float(cell)  # only genuine numbers may start with a sign
    channels = {row[4] for row in rows[1:]}
    assert '\'=HYPERLINK("x","y")' in channels and "'-2+3" in channels
    assert "<script>alert(1)</script>" in channels
    assert len(channels & set(HOSTILE)) == 3  # the names that need no defusing stay as sent


def test_csv_holds_each_results_exact_numbers(example_report, example_results, tmp_path):
    rows = _read(example_report.to_csv(tmp_path / "r.csv").read_text(encoding="utf-8"))
    header, body = rows[0], rows[1:]
    assert len(body) == sum(len(r.table) for r in example_results)
    by_key = {(row[0], row[4]): dict(zip(header, row, strict=True)) for row in body}
    for result in example_results:
        for channel, expected in result.table.iterrows():
            row = by_key[(result.model, channel)]
            for column in ("conversions", "conversions_lower", "value_upper", "share"):
                assert float(row[column]) == expected[column]  # repr round-trips exactly
            assert row["confidence"] == expected["confidence"]
            assert float(row["ci_level"]) == result.ci_level


def test_baseline_rows_are_marked_and_truth_is_joined(hostile_report):
    frame = hostile_report.channel_table()
    base = frame[frame["entry"] == "baseline"]
    assert len(base) == 1 and base["channel"].iloc[0] == "" and base["conversions"].iloc[0] == 2.0
    channels = frame[frame["entry"] == "channel"]
    assert (channels["truth"] == channels["channel"].map(hostile_report.truth)).all()
    text = csv_text(frame)
    assert text.splitlines()[0].endswith(",truth")
