"""`report()` and the `Report` it returns: one or several results, rendered for people."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from causality._progress import progress_bar
from causality.errors import ConfigurationError
from causality.journeys import Journeys
from causality.reports import comparisons, content
from causality.reports.methods import methods_entry
from causality.results.compare import _unique_labels
from causality.results.result import AttributionResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEFAULT_TITLE = "Marketing attribution report"


def report(
    results: AttributionResult | Sequence[AttributionResult],
    *,
    title: str | None = None,
    truth: pd.DataFrame | pd.Series | None = None,
    journeys: Journeys | None = None,
    n_paths: int = 10,
    progress: bool | None = None,
) -> Report:
    """A report of one or several results of different models on the same journeys.

    Reports never refit: they show what the results hold. Render it with
    `Report.to_html`, `Report.to_csv`, `Report.to_json` or `Report.to_pdf`.

    Parameters
    ----------
    results : AttributionResult or sequence of AttributionResult
        Fitted on the same journeys (checked: equal journey, conversion and value totals).
        Include a ``last_click`` result to get the last-click comparison.
    title : str, optional
        Shown at the top; defaults to "Marketing attribution report".
    truth : DataFrame or Series, optional
        Known true conversions per channel, e.g. ``Simulation.truth`` (its
        ``incremental_conversions`` column is used) or a Series indexed by channel. Adds a
        section comparing each model's credit and intervals with it.
    journeys : Journeys, optional
        The journeys the results were fitted on; adds the top converting paths (results do
        not carry paths).
    n_paths : int, default 10
        How many top paths to show.
    progress : bool, optional
        Progress bar while rendering HTML and PDF; by default only when someone watches
        (a terminal or notebook). See `causality._progress`.

    Returns
    -------
    Report

    Raises
    ------
    ConfigurationError
        No results, something that is not a result, results fitted on different journeys,
        ``journeys`` that do not match them, or an unusable ``truth``.

    Examples
    --------
    >>> import causality as ca
    >>> journeys = ca.Journeys.from_events(ca.datasets.load_example())
    >>> results = [ca.attribute(journeys, m, n_bootstrap=50) for m in ("last_click", "markov")]
    >>> rep = ca.report(results, title="Q2 report", journeys=journeys)
    >>> rep.labels
    ('last_click', 'markov')
    >>> html = rep.to_html()  # doctest: +SKIP
    >>> rep.to_csv("credit.csv")  # doctest: +SKIP
    """
    results = _as_results(results)
    labels = tuple(_unique_labels([r.model for r in results]))
    content.check_same_journeys(results, labels)
    paths = None
    if journeys is not None:
        if not isinstance(journeys, Journeys):
            raise ConfigurationError(
                f"journeys= must be a Journeys object; got {type(journeys).__name__}"
            )
        if isinstance(n_paths, bool) or not isinstance(n_paths, int) or n_paths < 1:
            raise ConfigurationError(f"n_paths must be a positive integer; got {n_paths!r}")
        content.check_journeys_match(journeys, results[0], labels[0])
        paths = content.top_paths(journeys, n_paths)
    if title is not None and not isinstance(title, str):
        raise ConfigurationError(f"title must be a string; got {type(title).__name__}")
    return Report(
        results=results,
        labels=labels,
        title=title or DEFAULT_TITLE,
        truth=None if truth is None else comparisons.truth_series(truth),
        paths=paths,
        progress=progress,
    )


def _as_results(results: Any) -> tuple[AttributionResult, ...]:
    if isinstance(results, AttributionResult):
        return (results,)
    if isinstance(results, str | bytes) or not isinstance(results, Sequence):
        raise ConfigurationError(
            f"report() takes an AttributionResult or a list of them; got {type(results).__name__}"
        )
    bad = [i for i, r in enumerate(results) if not isinstance(r, AttributionResult)]
    if not results or bad:
        raise ConfigurationError(
            "report() needs a non-empty list of AttributionResult objects"
            + (f"; items {bad[:5]} are not results" if bad else "")
            + ". Fix: pass what ca.attribute(...) returns."
        )
    return tuple(results)


@dataclasses.dataclass(frozen=True, eq=False)
class Report:
    """Results of several models on the same journeys, ready to render.

    Build it with `report`. Derived content (channel order, headline, comparisons) is
    computed on first use; renderers only format it.

    Attributes
    ----------
    results : tuple of AttributionResult
    labels : tuple of str
        One unique label per result: the model name, with ``#2``... for repeats.
    title : str
    truth : Series or None
        True conversions per channel.
    paths : DataFrame or None
        Top converting paths (see `causality.reports.content.top_paths`).
    progress : bool or None
        Whether rendering shows a progress bar (None: when someone watches).
    """

    results: tuple[AttributionResult, ...]
    labels: tuple[str, ...]
    title: str
    truth: pd.Series | None = None
    paths: pd.DataFrame | None = None
    progress: bool | None = None

    # -- content ----------------------------------------------------------------------------
    @functools.cached_property
    def order(self) -> list[str]:
        """Channels, by mean share across models, largest first."""
        return content.channel_order(self.results)

    @functools.cached_property
    def headline(self) -> dict[str, Any]:
        """Period, journeys, conversions and value of the data."""
        return content.headline(self.results)

    @functools.cached_property
    def last_click(self) -> tuple[pd.DataFrame, str] | None:
        """Shares per channel and model, and the last-click label; None without last click."""
        return comparisons.last_click_shares(self.results, self.labels, self.order)

    @functools.cached_property
    def findings(self) -> list[str]:
        """Sentences on where last click differs most from the other models."""
        if self.last_click is None:
            return []
        shares, label = self.last_click
        found = comparisons.last_click_findings(shares, label)
        return [comparisons.finding_sentence(f, len(self.results) - 1) for f in found]

    @functools.cached_property
    def truth_comparison(self) -> pd.DataFrame | None:
        """Each model's credit beside the truth (None without ``truth``)."""
        if self.truth is None:
            return None
        return comparisons.truth_comparison(self.results, self.labels, self.truth, self.order)

    @functools.cached_property
    def diagnostics(self) -> dict[str, list[dict[str, Any]]]:
        """Label -> the result's diagnostics as rows of ``name, value, warning``."""
        return {
            label: content.diagnostics_rows(r)
            for label, r in zip(self.labels, self.results, strict=True)
        }

    @functools.cached_property
    def methods(self) -> list[dict[str, Any]]:
        """Per result: what the model does, in plain words, and how intervals were made."""
        return [methods_entry(label, r) for label, r in zip(self.labels, self.results, strict=True)]

    def channel_table(self) -> pd.DataFrame:
        """Every result's channel table in one tidy frame (what `to_csv` writes).

        Columns `causality.reports.content.CHANNEL_FRAME_COLUMNS`, plus ``truth`` when the
        report has one. ``model`` holds the report's labels.
        """
        frame = content.channel_frame(self.results, self.labels, self.order)
        if self.truth is not None:
            is_channel = frame["entry"] == "channel"
            frame["truth"] = frame["channel"].map(self.truth).where(is_channel)
        return frame

    # -- charts -----------------------------------------------------------------------------
    def credit_figure(self, *, truth: bool = False) -> Figure:
        """The credit-per-channel chart (a matplotlib Figure); ``truth=True`` marks the truth."""
        from causality.reports.charts import credit_figure, model_colours

        colours = model_colours(self.results, self.labels)
        return credit_figure(
            self.results,
            self.labels,
            self.order,
            colours,
            truth=self.truth if truth else None,
        )

    def last_click_figure(self) -> Figure:
        """The last click versus other models chart; needs a ``last_click`` result."""
        from causality.reports.charts import last_click_figure, model_colours

        if self.last_click is None:
            raise ConfigurationError(
                "this report has no last_click result. Fix: include "
                "ca.attribute(journeys, 'last_click') in the results."
            )
        shares, label = self.last_click
        return last_click_figure(shares, label, model_colours(self.results, self.labels))

    # -- outputs ----------------------------------------------------------------------------
    def to_html(self, path: str | Path | None = None) -> str:
        """The report as one self-contained HTML page; also written to ``path`` if given.

        Charts are inline SVG and styles inline CSS; nothing is loaded from the network and
        every name from the data is escaped. Needs matplotlib (``causality[plot]``).
        """
        from causality.reports import html

        page = html.document(self, html.body(self, self._svg_charts()))
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page

    def _repr_html_(self) -> str:
        """The report inside a notebook (its stylesheet is scoped to the report)."""
        from causality.reports import html

        return f"<style>{html.stylesheet()}</style>\n" + html.body(self, self._svg_charts())

    def _svg_charts(self) -> dict[str, str]:
        """Every chart of the report as inline SVG, keyed by section."""
        from causality.reports.charts import to_svg

        steps = [("credit", self.credit_figure, "Conversions credited per channel and model")]
        if self.last_click is not None:
            steps.append(("last_click", self.last_click_figure, "Share: last click vs others"))
        if self.truth is not None:
            steps.append(
                ("truth", functools.partial(self.credit_figure, truth=True), "Credit vs truth")
            )
        svgs = {}
        with progress_bar(len(steps), "rendering report", self.progress) as bar:
            for key, build, label in steps:
                svgs[key] = to_svg(build(), f"chart{len(svgs)}", label=label)
                bar.update(1)
        return svgs

    def to_csv(self, path: str | Path) -> Path:
        """Write `channel_table` as RFC 4180 CSV, safe to open in spreadsheets.

        Text cells that a spreadsheet would read as a formula (starting with ``= + - @``,
        tab or carriage return) get a leading single quote; numbers are written in full.
        """
        from causality.reports.tabular import write_csv

        return write_csv(self.channel_table(), path)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: the results' own ``to_dict`` plus the report's content."""
        from causality.reports.serialise import report_to_dict

        return report_to_dict(self)

    def to_json(self, path: str | Path | None = None) -> str:
        """`to_dict` as JSON text (stable: the same report gives the same text)."""
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False, ensure_ascii=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, progress: bool | None = None) -> Report:
        """Rebuild a report from `to_dict` output (results without posteriors)."""
        from causality.reports.serialise import report_fields

        return cls(**report_fields(data), progress=progress)

    @classmethod
    def from_json(cls, text: str, *, progress: bool | None = None) -> Report:
        """Rebuild a report from `to_json` text."""
        return cls.from_dict(json.loads(text), progress=progress)

    def to_pdf(self, path: str | Path) -> Path:
        """Write the report as a multi-page PDF (cover, charts, tables); needs matplotlib."""
        from causality.reports.pdf import write_pdf

        return write_pdf(self, path)

    def __repr__(self) -> str:
        return (
            f"<Report {self.title!r}: {len(self.results)} models ({', '.join(self.labels)}), "
            f"{len(self.order)} channels>"
        )
