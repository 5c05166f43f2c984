"""The report's charts as matplotlib figures, and their inline-SVG form.

Figures are built with `matplotlib.figure.Figure`, never pyplot, so rendering keeps no global
state and is safe in a server thread. matplotlib is imported inside the functions.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from causality.results.result import AttributionResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Okabe-Ito colours (distinguishable with colour-blindness), in the order models get them;
#: last click is always grey, the reference the others are read against.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#332288")
LAST_CLICK_COLOUR = "#8C8C8C"
TRUTH_COLOUR = "#111111"
#: Inches; 96 px per inch on screen, so a chart fills the report's 1,024 px column at 1:1.
FIGURE_WIDTH = 10.6

_STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": ["Helvetica Neue", "Helvetica", "Arial", "Liberation Sans", "DejaVu Sans"],
    "font.size": 10,
    "axes.edgecolor": "#B0B0B0",
    "axes.labelcolor": "#333333",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.spines.left": False,  # channel labels need no axis line; the zero line stays
    "ytick.major.size": 0,
    "xtick.color": "#555555",
    "ytick.color": "#333333",
    "legend.frameon": False,
}


@contextmanager
def matplotlib_style() -> Any:
    """Matplotlib (imported here, with an install hint) under the report's chart style."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(
            "HTML and PDF reports need matplotlib: pip install 'causality[plot]'"
        ) from exc
    with matplotlib.rc_context(_STYLE):
        yield matplotlib


def plain(text: object) -> str:
    """``text`` as matplotlib should show it: literally.

    A ``$`` would start mathtext, and a leading underscore would hide a legend entry.
    """
    out = str(text).replace("$", r"\$")
    return "\u200b" + out if out.startswith("_") else out


def model_colours(results: Sequence[AttributionResult], labels: Sequence[str]) -> dict[str, str]:
    """A colour per result label: grey for last click, the palette in order for the rest."""
    colours, others = {}, iter(PALETTE * (1 + len(labels) // len(PALETTE)))
    for label, result in zip(labels, results, strict=True):
        colours[label] = LAST_CLICK_COLOUR if result.model == "last_click" else next(others)
    return colours


def _interval_note(results: Sequence[AttributionResult]) -> str:
    levels = sorted({r.ci_level for r in results})
    return ", ".join(f"{level:.0%}" for level in levels)


def credit_figure(
    results: Sequence[AttributionResult],
    labels: Sequence[str],
    order: Sequence[str],
    colours: Mapping[str, str],
    *,
    truth: pd.Series | None = None,
) -> Figure:
    """Grouped horizontal bars of conversions per channel, one bar per model, with whiskers.

    ``order`` runs top to bottom. With ``truth``, black diamonds mark the true conversions.
    """
    with matplotlib_style():
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter

        n_channels, n_models = len(order), len(results)
        fig_height = 1.2 + n_channels * (0.16 * n_models + 0.22)
        fig = Figure(figsize=(FIGURE_WIDTH, fig_height), layout="constrained")
        ax = fig.add_subplot()
        y = np.arange(n_channels)[::-1].astype(float)
        height = 0.8 / n_models
        handles = []  # models in input order, then the truth marker
        for j, (label, result) in enumerate(zip(labels, results, strict=True)):
            t = result.table.reindex(list(order))
            est = t["conversions"].to_numpy(dtype=float)
            err = np.vstack([est - t["conversions_lower"], t["conversions_upper"] - est])
            bars = ax.barh(
                y + ((n_models - 1) / 2 - j) * height,
                np.nan_to_num(est),
                height=height * 0.92,
                color=colours[label],
                xerr=np.clip(np.nan_to_num(err.astype(float)), 0, None),
                error_kw={"elinewidth": 0.9, "capsize": 2, "ecolor": "#333333"},
            )
            handles.append(bars)
        if truth is not None:
            true = truth.reindex(list(order)).to_numpy(dtype=float)
            handles.append(ax.scatter(true, y, marker="D", s=28, color=TRUTH_COLOUR, zorder=3))
        ax.axvline(0, color="#777777", linewidth=0.8)
        ax.set_yticks(y, [plain(c) for c in order])
        ax.set_ylim(-0.6, n_channels - 0.4)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.10g}"))
        ax.grid(axis="x", color="#E6E6E6", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.set_xlabel(
            f"Conversions credited (bars: estimate; whiskers: {_interval_note(results)} interval)"
        )
        names = [plain(label) for label in labels] + (["truth"] if truth is not None else [])
        ax.legend(
            handles, names, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=min(len(names), 6)
        )
    return fig


def last_click_figure(shares: pd.DataFrame, last_click: str, colours: Mapping[str, str]) -> Figure:
    """Dots of each channel's share under every model, last click as a grey square.

    A line spans each channel's range across models, so the gap between last click and the
    others reads at a glance. ``shares`` has channels as rows (top to bottom), models as
    columns.
    """
    with matplotlib_style():
        from matplotlib.figure import Figure
        from matplotlib.ticker import PercentFormatter

        n_channels = len(shares)
        fig = Figure(figsize=(FIGURE_WIDTH, 1.2 + 0.4 * n_channels), layout="constrained")
        ax = fig.add_subplot()
        y = np.arange(n_channels)[::-1].astype(float)
        values = shares.to_numpy(dtype=float) * 100
        ax.hlines(
            y, np.nanmin(values, axis=1), np.nanmax(values, axis=1), color="#D0D0D0", linewidth=3
        )
        for label in shares.columns:
            is_lc = label == last_click
            ax.scatter(
                shares[label].to_numpy(dtype=float) * 100,
                y,
                marker="s" if is_lc else "o",
                s=70 if is_lc else 46,
                color=colours[label],
                edgecolor="white",
                linewidth=0.6,
                zorder=4 if is_lc else 3,
                label=plain(label),
            )
        if np.nanmin(values) < 0:  # negative credit (Shapley) reads against zero
            ax.axvline(0, color="#777777", linewidth=0.8)
        ax.set_yticks(y, [plain(c) for c in shares.index])
        ax.set_ylim(-0.6, n_channels - 0.4)
        ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
        ax.grid(axis="x", color="#E6E6E6", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.set_xlabel("Share of attributed conversions (%)")
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=min(len(shares.columns), 5))
    return fig


_TAG = re.compile(r"<[^<>]+>")
_REFERENCES = re.compile(r'(\sid="|url\(#|href="#)([^"#)]+)')


def to_svg(fig: Figure, key: str, *, label: str) -> str:
    """``fig`` as an ``<svg>`` element to inline in HTML.

    Text stays text (selectable, escaped by matplotlib's XML writer). Every id, and every
    reference to one, gets the prefix ``key``, so several charts in one page never clash;
    the XML prolog and namespace declarations go (HTML needs neither), which leaves no URL
    in the markup. ``label`` becomes the chart's accessible name.
    """
    import html

    with (
        matplotlib_style() as matplotlib,
        matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": key}),
    ):
        buffer = io.StringIO()
        fig.savefig(
            buffer, format="svg", metadata=dict.fromkeys(("Creator", "Date", "Format", "Type"))
        )
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    # Only inside tags: text content cannot hold '<' (matplotlib escapes it), so user strings
    # shown in the chart are never rewritten.
    svg = _TAG.sub(lambda m: _REFERENCES.sub(rf"\g<1>{key}-\g<2>", m.group(0)), svg)
    head, rest = svg.split(">", 1)
    head = re.sub(r'\sxmlns(:xlink)?="[^"]*"', "", head)
    accessible = f'<svg role="img" aria-label="{html.escape(label, quote=True)}"'
    return head.replace("<svg", accessible, 1) + ">" + rest
