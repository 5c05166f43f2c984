"""A result summary that prints as text and renders as HTML in notebooks."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from causality.results.result import AttributionResult


class Summary:
    """Header facts and the channel table of one result.

    ``print(summary)`` gives plain text; Jupyter shows `_repr_html_`.
    """

    def __init__(self, result: AttributionResult) -> None:
        self.result = result

    def header(self) -> list[tuple[str, str]]:
        """(label, value) pairs describing the fit."""
        r = self.result
        rows = [
            ("Model", f"{r.model} ({r.kind})"),
            ("Journeys", f"{r.n_journeys:,}"),
            ("Conversions attributed", f"{r.total_conversions:,.1f}"),
            ("Conversion value", f"{r.total_value:,.2f}"),
            ("Unattributed conversions", f"{r.unattributed_conversions:,.1f}"),
            ("Interval level", f"{r.ci_level:.0%}"),
            ("Seed", str(r.seed)),
        ]
        if r.window is not None:
            rows.append(("Window", f"{r.window[0]:%Y-%m-%d} to {r.window[1]:%Y-%m-%d}"))
        if r.baseline is not None:
            b = r.baseline
            rows.append(
                (
                    "Baseline conversions",
                    f"{b['conversions']:,.1f} "
                    f"[{b['conversions_lower']:,.1f}, {b['conversions_upper']:,.1f}]",
                )
            )
        return rows

    def table(self) -> pd.DataFrame:
        """The channel table, sorted by credit, rounded for display."""
        t = self.result.table.sort_values("conversions", ascending=False)
        shown = t[["conversions", "conversions_lower", "conversions_upper", "value", "share"]]
        shown = shown.rename(
            columns={"conversions_lower": "lower", "conversions_upper": "upper"}
        ).round({"conversions": 1, "lower": 1, "upper": 1, "value": 2, "share": 3})
        shown["confidence"] = t["confidence"]
        return shown

    def __str__(self) -> str:
        width = max(len(label) for label, _ in self.header())
        lines = [f"{label:<{width}}  {value}" for label, value in self.header()]
        rule = "=" * max(len(line) for line in lines)
        return "\n".join([rule, *lines, rule, self.table().to_string(), rule])

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        head = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in self.header()
        )
        return f"<table>{head}</table>{self.table().to_html()}"
