"""The report as one self-contained HTML page.

Every string that comes from data or callers (channel, model and parameter names, titles,
diagnostics) goes through `html.escape`; charts are inline SVG and the stylesheet is inline,
so the page loads nothing from anywhere.
"""

from __future__ import annotations

import json
from html import escape
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from causality.reports import formatting as fmt
from causality.reports import html_tables
from causality.reports.methods import KIND_WORDS

if TYPE_CHECKING:
    from causality.reports.report import Report

_SECTIONS = (
    ("credit", "Credit by channel"),
    ("last-click", "Last click versus the other models"),
    ("tables", "Channel tables"),
    ("truth", "Against the truth"),
    ("paths", "Top converting paths"),
    ("diagnostics", "Model diagnostics"),
    ("methods", "Methods"),
)


def stylesheet() -> str:
    """The report's CSS (every rule scoped to ``.causality-report``)."""
    return files("causality.reports").joinpath("style.css").read_text(encoding="utf-8")


def document(report: Report, body: str) -> str:
    """A complete HTML page around ``body``."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="causality {escape(_version())}">\n'
        f"<title>{escape(report.title)}</title>\n"
        f"<style>\nbody {{ margin: 0; background: #ffffff; }}\n{stylesheet()}</style>\n"
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def body(report: Report, charts: dict[str, str]) -> str:
    """The report's content: a ``div.causality-report`` with every section."""
    sections = {
        "credit": _credit(report, charts),
        "last-click": _last_click(report, charts),
        "tables": html_tables.channel_tables(report),
        "truth": _truth(report, charts),
        "paths": html_tables.paths_table(report),
        "diagnostics": _diagnostics(report),
        "methods": _methods(report),
    }
    shown = [(key, title) for key, title in _SECTIONS if sections[key]]
    nav = "".join(f'<a href="#{key}">{title}</a>' for key, title in shown)
    parts = [
        _header(report),
        f'<nav aria-label="Sections">{nav}</nav>',
        *(f'<section id="{key}">\n{sections[key]}\n</section>' for key, _ in shown),
        _footer(),
    ]
    return '<div class="causality-report">\n' + "\n".join(parts) + "\n</div>"


def _version() -> str:
    from causality import __version__

    return __version__


# -- header -----------------------------------------------------------------------------------
def _header(report: Report) -> str:
    h = report.headline
    days, when = fmt.period(h["period_start"], h["period_end"], h["n_days"])
    unattributed = h["unattributed_conversions"]
    cards = [
        ("Period", days, when),
        ("Journeys", fmt.count(h["n_journeys"]), "converting and not"),
        (
            "Conversions",
            fmt.count(h["conversions"]),
            f"{fmt.count(h['attributed_conversions'])} after a touch; "
            f"{fmt.count(unattributed)} with none in the lookback window (not credited)",
        ),
        ("Conversion value", fmt.number(h["value"], 2), "of conversions after a touch"),
        (
            "Channels",
            fmt.number(h["n_channels"], 0),
            f"{len(report.results)} models compared"
            + (f"; grouped by rule set {h['channel_rule_set']}" if h["channel_rule_set"] else ""),
        ),
    ]
    card_html = "".join(
        f'<div class="card"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(figure)}</div><div class="detail">{escape(detail)}</div></div>'
        for label, figure, detail in cards
    )
    models = ", ".join(escape(label) for label in report.labels)
    findings = "".join(f"<p>{escape(text)}</p>" for text in report.findings)
    return (
        f"<header>\n<h1>{escape(report.title)}</h1>\n"
        f'<p class="subtitle">Conversions credited to each channel by {models}, '
        "with intervals and a confidence label on every number.</p>\n"
        f'<div class="cards">{card_html}</div>\n'
        + (f'<div class="findings">{findings}</div>\n' if findings else "")
        + "</header>"
    )


def _footer() -> str:
    return (
        f"<footer>Made with causality {escape(_version())}. This file is self-contained: its "
        "charts, styles and data are inside it and it loads nothing from the network.</footer>"
    )


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


# -- charts -----------------------------------------------------------------------------------
def _credit(report: Report, charts: dict[str, str]) -> str:
    return (
        "<h2>Credit by channel</h2>\n"
        '<p class="lead">Conversions credited to each channel by each model. Whiskers are '
        "intervals: the wider they are, the less the data pin the number down.</p>\n"
        + _figure(charts["credit"], "Channels sorted by their mean share across models.")
    )


def _last_click(report: Report, charts: dict[str, str]) -> str:
    if "last_click" not in charts:
        return (
            "<h2>Last click versus the other models</h2>\n"
            '<p class="note">No last-click result is in this report. Add one to see how the '
            "other models differ from what most analytics tools report: "
            '<code>ca.report([ca.attribute(journeys, "last_click"), ...])</code>, or '
            "<code>--models last_click,...</code> on the command line.</p>"
        )
    return (
        "<h2>Last click versus the other models</h2>\n"
        '<p class="lead">Each channel\'s share of attributed conversions. The grey square is '
        "last click; the bar spans the range across models.</p>\n"
        + _figure(charts["last_click"], "Share of attributed conversions by channel and model.")
    )


# -- truth ------------------------------------------------------------------------------------
def _truth(report: Report, charts: dict[str, str]) -> str:
    if report.truth is None:
        return ""
    return (
        "<h2>Against the truth</h2>\n"
        f'<p class="lead">The true conversions caused per channel ({escape(str(report.truth.name))}'
        "), as black diamonds, beside each model's credit.</p>\n"
        + _figure(charts["truth"], "Bars: credit with intervals; diamonds: the truth.")
        + html_tables.truth_tables(report)
    )


# -- diagnostics and methods ------------------------------------------------------------------
def _diagnostics(report: Report) -> str:
    panels = []
    for label, rows in report.diagnostics.items():
        items = "".join(_diagnostic_item(r) for r in rows)
        warnings = [
            f"{fmt.DIAGNOSTIC_LABELS.get(r['name'], r['name'])} is {r['warning']}."
            for r in rows
            if r["warning"]
        ]
        note = "".join(f'<p class="missed">{escape(w)}</p>' for w in warnings)
        panels.append(
            f'<div class="panel"><h3>{escape(label)}</h3>'
            f"<dl>{items or '<dt>none reported</dt><dd></dd>'}</dl>{note}</div>"
        )
    return (
        "<h2>Model diagnostics</h2>\n"
        '<p class="lead">What each fit reports about itself: bootstrap replicates for every '
        "model; r-hat (should be below 1.01), effective sample sizes (above 400) and "
        "divergences (0) for Bayesian models.</p>\n"
        f'<div class="grid">{"".join(panels)}</div>'
    )


def _diagnostic_item(row: dict[str, Any]) -> str:
    name = fmt.DIAGNOSTIC_LABELS.get(row["name"], row["name"])
    if not row["warning"]:
        return f"<dt>{escape(name)}</dt><dd>{escape(fmt.diagnostic(row['value']))}</dd>"
    return (
        f'<dt class="warn">{escape(name)}</dt>'
        f'<dd class="warn" title="{escape(row["warning"])}">'
        f"{escape(fmt.diagnostic(row['value']))}</dd>"
    )


def _methods(report: Report) -> str:
    kinds = dict.fromkeys(e["kind"] for e in report.methods)
    general = "".join(f"<p>{escape(KIND_WORDS[k])}</p>" for k in kinds if k in KIND_WORDS)
    blocks = [general]
    for entry in report.methods:
        params = ", ".join(
            f"<code>{escape(str(k))}={escape(json.dumps(v, default=str))}</code>"
            for k, v in entry["params"].items()
        )
        description = (
            f"<p><i>{escape(entry['description'])}</i></p>" if entry["description"] else ""
        )
        plain = f"<p>{escape(entry['plain_words'])}</p>" if entry["plain_words"] else ""
        blocks.append(
            f'<h3>{escape(entry["label"])} <span class="badge badge-kind">'
            f"{escape(entry['kind'])}</span></h3>{description}{plain}"
            f"<p>{escape(entry['intervals'])}</p>"
            f"<p>Parameters: {params or 'none'}.</p>"
        )
    return "<h2>Methods</h2>\n" + "\n".join(blocks)
