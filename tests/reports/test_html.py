"""The HTML report: self-contained, escaped, and showing the results' own numbers."""

import re

import pytest

import causality as ca

from .conftest import HOSTILE
from .htmltables import tables

# Anything that would make a browser fetch from elsewhere.
NETWORK = re.compile(
    r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|@import|url\(\s*["']?\s*(?:https?:)?//|<link\b|<script\b|<iframe\b|<object\b|<embed\b""",
    re.I,
)


def test_hostile_names_are_escaped_everywhere(hostile_html):
    page = hostile_html
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;b&gt;truth&lt;/b&gt;" in page
    # Each channel name appears in the channel tables exactly as sent (after unescaping).
    for _, rows in tables(page, "channel-table"):
        shown = {row[0][0] for row in rows[1:]}
        assert set(HOSTILE) <= shown


def test_hostile_names_stay_literal_in_charts(hostile_html):
    svg = hostile_html.split('<section id="credit">')[1].split("</section>")[0]
    # mathtext would have swallowed the dollars; the leading underscore is kept visible.
    assert "$x$ &amp; " in svg and "_hidden" in svg


def test_page_loads_nothing_from_the_network(example_html, hostile_html):
    for page in (example_html, hostile_html):
        assert not NETWORK.search(page), NETWORK.search(page)
        assert all(ref.startswith("#") for ref in re.findall(r'href="([^"]*)"', page))
        assert set(re.findall(r"url\(([^)]*)\)", page)) <= {
            f"#{i}" for i in re.findall(r'id="([^"]+)"', page)
        }
    # With benign names the page holds no URL at all (SVG namespaces and DOCTYPE are dropped).
    assert "http://" not in example_html and "https://" not in example_html


def test_element_ids_are_unique_across_charts(example_html):
    ids = re.findall(r'\sid="([^"]+)"', example_html)
    assert len(ids) == len(set(ids))


def test_page_has_every_section_and_chart(example_html, example_report):
    for section in ("credit", "last-click", "tables", "paths", "diagnostics", "methods"):
        assert f'<section id="{section}">' in example_html
    assert example_html.count("<svg ") == 2  # credit, last click (no truth given)
    assert '<section id="truth">' not in example_html
    assert "<title>Example &amp; &lt;Q2&gt;</title>" in example_html
    for sentence in example_report.findings:
        assert sentence in example_html
    assert "2024-04-01 to 2024-06-30" in example_html and "4,754" in example_html


def test_channel_tables_show_the_results_numbers(example_html, example_results):
    shown = tables(example_html, "channel-table")
    assert [attrs["data-model"] for attrs, _ in shown] == [r.model for r in example_results]
    for (_, rows), result in zip(shown, example_results, strict=True):
        body = {row[0][0]: row for row in rows[1:] if row[0][0] != "All channels"}
        assert set(body) == set(result.table.index)
        for channel, row in body.items():
            expected = result.table.loc[channel]
            _, conversions, conv_interval, value, _, share, confidence = row
            assert float(conversions[1]["data-value"]) == expected["conversions"]
            assert conversions[0] == f"{expected['conversions']:,.1f}"
            assert conv_interval[0] == (
                f"[{expected['conversions_lower']:,.1f}, {expected['conversions_upper']:,.1f}]"
            )
            assert float(value[1]["data-value"]) == expected["value"]
            assert float(share[1]["data-value"]) == expected["share"]
            assert share[0] == f"{expected['share']:.1%}"
            assert confidence[0] == expected["confidence"]


def test_channels_are_sorted_by_mean_share(example_html, example_results):
    mean = sum(r.table["share"] for r in example_results) / len(example_results)
    _, rows = tables(example_html, "channel-table")[0]
    channels = [row[0][0] for row in rows[1:-1]]
    assert channels == list(mean.sort_values(ascending=False).index)


def test_top_paths_match_the_journeys(example_html, example_journeys):
    ((_, rows),) = tables(example_html, "paths-table")
    table = example_journeys.paths().set_index("path")
    shown = [" > ".join(c.strip() for c in row[1][0].split("→")) for row in rows[1:]]
    assert len(shown) == 10
    for path, row in zip(shown, rows[1:], strict=True):
        assert float(row[2][1]["data-value"]) == table.loc[path, "conversions"]
        journeys_on_path = table.loc[path, "conversions"] + table.loc[path, "nulls"]
        assert float(row[4][1]["data-value"]) == journeys_on_path
    # Ordered as paths() orders them: conversions, then non-converting journeys.
    expected = table.head(10)
    assert [float(row[2][1]["data-value"]) for row in rows[1:]] == list(expected["conversions"])
    assert [float(row[4][1]["data-value"]) for row in rows[1:]] == list(
        expected["conversions"] + expected["nulls"]
    )


def test_bayesian_diagnostics_flag_poor_convergence(hostile_html):
    page = hostile_html
    panel = page.split("&lt;img src=x onerror=alert(1)&gt;</h3>")[1].split("</div>")[0]
    assert '<dt class="warn">largest r-hat</dt>' in panel
    assert '<dt class="warn">smallest bulk ESS</dt>' in panel
    assert '<dt class="warn">divergent transitions</dt>' in panel
    assert "posterior draws</dt><dd>400</dd>" in panel
    assert "Organic baseline (not credited)" in page


def test_truth_section_counts_intervals_that_contain_the_truth(hostile_report, hostile_html):
    page = hostile_html
    comparison = hostile_report.truth_comparison
    ((_, rows),) = tables(page, "truth-summary")
    for row in rows[1:]:
        model = row[0][0]
        mine = comparison[comparison["model"] == model]
        assert row[2][0] == f"{int(mine['covered'].sum())} of {len(mine)}"


def test_without_last_click_the_report_says_how_to_add_it(example_results):
    page = ca.report(example_results[1:]).to_html()
    assert 'ca.attribute(journeys, "last_click")' in page.replace("&quot;", '"')
    assert page.count("<svg ") == 1


def test_to_html_writes_the_file(example_report, tmp_path, example_html):
    path = tmp_path / "report.html"
    assert example_report.to_html(path) == example_html
    assert path.read_text(encoding="utf-8") == example_html


def test_progress_bar_reports_each_chart(example_results, capsys):
    ca.report(example_results, progress=True).to_html()
    err = capsys.readouterr().err
    # tqdm redraws at most every 0.1 s and clears the bar on close, so the final "2/2" may
    # never be drawn on a fast machine; the bar and its total are.
    assert "rendering report" in err and "/2" in err
    ca.report(example_results, progress=False).to_html()
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("model", ["last_click", "markov"])
def test_notebook_display_is_the_scoped_report(example_journeys, model):
    rep = ca.report(ca.attribute(example_journeys, model, n_bootstrap=0))
    shown = rep._repr_html_()
    assert shown.startswith("<style>") and '<div class="causality-report">' in shown
    assert "<html" not in shown and "confidence" in shown
