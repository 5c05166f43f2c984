"""PDF export: a cover, every chart and a table page per model."""

import re


def test_pdf_has_a_page_per_chart_and_table(hostile_report, tmp_path):
    path = hostile_report.to_pdf(tmp_path / "report.pdf")
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    pages = len(re.findall(rb"/Type\s*/Page\b", data))
    # cover, credit, last click, truth, one table per model (3), top paths
    assert pages == 4 + len(hostile_report.results) + 1
    assert b"/Title" in data and b"/Creator (causality)" in data


def test_pdf_without_optional_sections(example_results, tmp_path):
    import causality as ca

    path = ca.report(example_results[1:2]).to_pdf(tmp_path / "one.pdf")
    assert len(re.findall(rb"/Type\s*/Page\b", path.read_bytes())) == 3  # cover, credit, table
