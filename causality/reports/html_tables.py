"""HTML tables of the report: channel credit, truth and top paths (strings escaped here)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

import pandas as pd

from causality.reports import formatting as fmt
from causality.reports.comparisons import truth_summary
from causality.results.table import CONFIDENCE_THRESHOLDS

if TYPE_CHECKING:
    from causality.reports.report import Report
    from causality.results.result import AttributionResult


# -- channel tables ---------------------------------------------------------------------------
def _cell(value: Any, text: str, css: str = "") -> str:
    data = "" if fmt.is_missing(value) else f' data-value="{escape(repr(float(value)))}"'
    cls = f' class="{css}"' if css else ""
    return f"<td{cls}{data}>{escape(text)}</td>"


def _interval_cell(lower: Any, upper: Any, decimals: int = 1) -> str:
    return f'<td class="interval">{escape(fmt.interval(lower, upper, decimals))}</td>'


def _badge(label: str) -> str:
    known = label if label in ("high", "medium", "low", "none") else "none"
    return f'<span class="badge badge-{known}">{escape(label)}</span>'


def _channel_row(channel: str, row: pd.Series, decimals: int = 1) -> str:
    return (
        f'<tr><td class="text">{escape(str(channel))}</td>'
        + _cell(row["conversions"], fmt.number(row["conversions"]))
        + _interval_cell(row["conversions_lower"], row["conversions_upper"])
        + _cell(row["value"], fmt.number(row["value"], 2))
        + _interval_cell(row["value_lower"], row["value_upper"], 2)
        + _cell(row["share"], fmt.percent(row["share"]))
        + f'<td class="text">{_badge(str(row["confidence"]))}</td></tr>'
    )


def _model_table(label: str, result: AttributionResult, order: list[str]) -> str:
    level = f"{result.ci_level:.0%}"
    head = (
        '<tr><th class="text">Channel</th><th>Conversions</th>'
        f"<th>{level} interval</th><th>Value</th><th>{level} interval</th>"
        '<th>Share</th><th class="text">Confidence</th></tr>'
    )
    table = result.table.reindex([c for c in order if c in result.table.index])
    rows = [_channel_row(channel, row) for channel, row in table.iterrows()]
    rows.append(
        '<tr class="total"><td class="text">All channels</td>'
        + _cell(table["conversions"].sum(), fmt.number(table["conversions"].sum()))
        + "<td></td>"
        + _cell(table["value"].sum(), fmt.number(table["value"].sum(), 2))
        + "<td></td>"
        + _cell(table["share"].sum(), fmt.percent(table["share"].sum()))
        + "<td></td></tr>"
    )
    if result.baseline is not None:
        b = result.baseline
        rows.append(
            '<tr class="baseline"><td class="text">Organic baseline (not credited)</td>'
            + _cell(b["conversions"], fmt.number(b["conversions"]))
            + _interval_cell(b["conversions_lower"], b["conversions_upper"])
            + _cell(b["value"], fmt.number(b["value"], 2))
            + _interval_cell(b["value_lower"], b["value_upper"], 2)
            + "<td></td><td></td></tr>"
        )
    return (
        f'<h3>{escape(label)} <span class="badge badge-kind">{escape(result.kind)}</span></h3>\n'
        f'<div class="table-wrap"><table class="channel-table" data-model="{escape(label)}">'
        f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def channel_tables(report: Report) -> str:
    """The channel-table section: one table per model, with totals and baseline."""
    high, medium = CONFIDENCE_THRESHOLDS["high"], CONFIDENCE_THRESHOLDS["medium"]
    intro = (
        '<p class="lead">Conversions and value credited per channel, with intervals. Share is '
        "the channel's part of attributed conversions. Confidence reads the interval's width "
        f"against the estimate: <b>high</b> up to {high:.0%}, <b>medium</b> up to "
        f"{medium:.0%}, <b>low</b> above; <b>none</b> when no interval was computed. Value is "
        "in the currency of the input data.</p>"
    )
    tables = [
        _model_table(label, result, report.order)
        for label, result in zip(report.labels, report.results, strict=True)
    ]
    return "<h2>Channel tables</h2>\n" + intro + "\n" + "\n".join(tables)


# -- truth ------------------------------------------------------------------------------------
def truth_tables(report: Report) -> str:
    """Per model, the error against the truth; per channel, the truth beside each estimate."""
    comparison = report.truth_comparison
    summary = truth_summary(comparison)
    summary_rows = "".join(
        f'<tr><td class="text">{escape(str(label))}</td>'
        + _cell(row["mean_absolute_error"], fmt.number(row["mean_absolute_error"]))
        + f"<td>{int(row['covered'])} of {int(row['channels'])}</td></tr>"
        for label, row in summary.iterrows()
    )
    by_key = comparison.set_index(["channel", "model"])
    head = "".join(f"<th>{escape(label)}</th>" for label in report.labels)
    rows = []
    for channel in dict.fromkeys(comparison["channel"]):
        true = by_key.loc[(channel, report.labels[0]), "truth"]
        cells = "".join(_truth_cell(by_key.loc[(channel, label)]) for label in report.labels)
        rows.append(
            f'<tr><td class="text">{escape(str(channel))}</td>'
            f"{_cell(true, fmt.number(true))}{cells}</tr>"
        )
    return (
        '<div class="table-wrap"><table class="truth-summary"><thead><tr>'
        '<th class="text">Model</th><th>Mean absolute error (conversions)</th>'
        f"<th>Intervals containing the truth</th></tr></thead><tbody>{summary_rows}</tbody>"
        '</table></div><div class="table-wrap"><table class="truth-table"><thead><tr>'
        f'<th class="text">Channel</th><th>Truth</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _truth_cell(row: pd.Series) -> str:
    covered = bool(row["covered"])
    mark = "covered" if covered else "missed"
    title = "interval contains the truth" if covered else "interval misses the truth"
    return (
        f'<td data-value="{escape(repr(float(row["estimate"])))}" title="{title}">'
        f"{escape(fmt.number(row['estimate']))} "
        f'<span class="interval {mark}">{escape(fmt.interval(row["lower"], row["upper"]))}</span>'
        "</td>"
    )


# -- paths ---------------------------------------------------------------
def paths_table(report: Report) -> str:
    """The top-paths section, or '' when the report has no paths."""
    paths = report.paths
    if paths is None:
        return ""
    rows = []
    for rank, row in enumerate(paths.itertuples(index=False), start=1):
        chips = '<span class="arrow">→</span>'.join(
            f'<span class="chip">{escape(str(c))}</span>' for c in row.path
        )
        rows.append(
            f"<tr><td>{rank}</td>"
            f'<td class="text"><span class="path">{chips}</span></td>'
            + _cell(row.conversions, fmt.count(row.conversions))
            + _cell(row.share, fmt.percent(row.share))
            + _cell(row.conversions + row.nulls, fmt.count(row.conversions + row.nulls))
            + _cell(row.conversion_rate, fmt.percent(row.conversion_rate))
            + _cell(row.value, fmt.number(row.value, 2))
            + "</tr>"
        )
    return (
        "<h2>Top converting paths</h2>\n"
        '<p class="lead">The channel sequences behind the most conversions, in touch order.</p>\n'
        '<div class="table-wrap"><table class="paths-table"><thead><tr><th>#</th>'
        '<th class="text">Path</th><th>Conversions</th><th>Share of conversions</th>'
        "<th>Journeys</th><th>Conversion rate</th><th>Value</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
