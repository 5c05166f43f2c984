"""The report as a multi-page PDF (matplotlib's PDF backend): facts, charts, then tables."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from causality._progress import progress_bar
from causality.reports import charts
from causality.reports import formatting as fmt

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from causality.reports.report import Report

_PAGE_WIDTH = 10.6


def write_pdf(report: Report, path: str | Path) -> Path:
    """Write ``report`` to ``path`` as a PDF and return the path."""
    path = Path(path)
    builders = list(_pages(report))
    with charts.matplotlib_style():
        from matplotlib.backends.backend_pdf import PdfPages

        metadata = {"Title": report.title, "Creator": "causality", "Producer": "matplotlib"}
        with (
            PdfPages(path, metadata=metadata) as pdf,
            progress_bar(len(builders), "rendering PDF", report.progress) as bar,
        ):
            for build in builders:
                pdf.savefig(build())
                bar.update(1)
    return path


def _pages(report: Report) -> Iterator:
    """Page builders, each returning one Figure (built lazily, one at a time)."""
    yield lambda: _cover(report)
    yield lambda: _titled(report.credit_figure(), "Conversions credited per channel")
    if report.last_click is not None:
        yield lambda: _titled(report.last_click_figure(), "Last click versus the other models")
    if report.truth is not None:
        yield lambda: _titled(report.credit_figure(truth=True), "Credit against the truth")
    for label, result in zip(report.labels, report.results, strict=True):
        yield lambda label=label, result=result: _model_table(report, label, result)
    if report.paths is not None:
        yield lambda: _paths_table(report)


def _titled(fig: Figure, title: str) -> Figure:
    fig.suptitle(charts.plain(title), x=0.01, ha="left", fontsize=12, fontweight="bold")
    return fig


def _cover(report: Report) -> Figure:
    from matplotlib.figure import Figure

    h = report.headline
    days, when = fmt.period(h["period_start"], h["period_end"], h["n_days"])
    lines = [
        f"Period: {when} ({days})",
        f"Journeys: {fmt.count(h['n_journeys'])}",
        f"Conversions: {fmt.count(h['conversions'])} "
        f"({fmt.count(h['attributed_conversions'])} after a touch, "
        f"{fmt.count(h['unattributed_conversions'])} not credited)",
        f"Conversion value: {fmt.number(h['value'], 2)}",
        f"Models: {', '.join(report.labels)}",
        "",
        *report.findings,
    ]
    with charts.matplotlib_style():
        fig = Figure(figsize=(_PAGE_WIDTH, 4.5))
        fig.text(0.05, 0.9, charts.plain(report.title), fontsize=18, fontweight="bold", va="top")
        fig.text(0.05, 0.76, charts.plain("\n".join(lines)), fontsize=10, va="top", wrap=True)
    return fig


def _table_page(title: str, header: Sequence[str], rows: list[list[str]]) -> Figure:
    from matplotlib.figure import Figure

    row_height, margin = 0.27, 0.45  # inches
    cells = [[charts.plain(c) for c in header], *([charts.plain(c) for c in r] for r in rows)]
    # Columns as wide as their longest text (plus padding), together the page's width.
    widths = [max(len(row[i]) for row in cells) + 3 for i in range(len(header))]
    with charts.matplotlib_style():
        height = row_height * len(cells) + 2 * margin + 0.3
        fig = Figure(figsize=(_PAGE_WIDTH, height))
        top = 1 - (margin + 0.3) / height
        ax = fig.add_axes((0.03, margin / height, 0.94, top - margin / height))
        ax.axis("off")
        table = ax.table(
            cellText=cells[1:],
            colLabels=cells[0],
            colWidths=[w / sum(widths) for w in widths],
            bbox=(0, 0, 1, 1),
            cellLoc="right",
            colLoc="right",
        )
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        for (row, col), cell in table.get_celld().items():
            cell.set_edgecolor("#E3E7EC")
            cell.visible_edges = "B"
            if row == 0:
                cell.set_text_props(color="#5B6675", fontweight="bold")
            if col == 0:
                cell.set_text_props(ha="left")
                cell.PAD = 0.02
        fig.suptitle(charts.plain(title), x=0.03, ha="left", fontsize=12, fontweight="bold")
    return fig


def _model_table(report: Report, label: str, result) -> Figure:
    level = f"{result.ci_level:.0%}"
    header = ["Channel", "Conversions", f"{level} interval", "Value", f"{level} interval"]
    header += ["Share", "Confidence"]
    table = result.table.reindex([c for c in report.order if c in result.table.index])
    rows = [
        [
            str(channel),
            fmt.number(r["conversions"]),
            fmt.interval(r["conversions_lower"], r["conversions_upper"]),
            fmt.number(r["value"], 2),
            fmt.interval(r["value_lower"], r["value_upper"], 2),
            fmt.percent(r["share"]),
            str(r["confidence"]),
        ]
        for channel, r in table.iterrows()
    ]
    if result.baseline is not None:
        b = result.baseline
        rows.append(
            [
                "Organic baseline (not credited)",
                fmt.number(b["conversions"]),
                fmt.interval(b["conversions_lower"], b["conversions_upper"]),
                fmt.number(b["value"], 2),
                fmt.interval(b["value_lower"], b["value_upper"], 2),
                "",
                "",
            ]
        )
    return _table_page(f"{label} ({result.kind}): channel table", header, rows)


def _paths_table(report: Report) -> Figure:
    header = ["Path", "Conversions", "Share", "Journeys", "Conversion rate", "Value"]
    rows = [
        [
            " > ".join(str(c) for c in p.path),
            fmt.count(p.conversions),
            fmt.percent(p.share),
            fmt.count(p.conversions + p.nulls),
            fmt.percent(p.conversion_rate),
            fmt.number(p.value, 2),
        ]
        for p in report.paths.itertuples(index=False)
    ]
    return _table_page("Top converting paths", header, rows)
