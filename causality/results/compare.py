"""Side-by-side comparison of several results."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from causality.errors import ConfigurationError
from causality.results.result import AttributionResult


def compare(
    results: Sequence[AttributionResult],
    *,
    metric: str = "conversions",
    labels: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One frame with several results side by side.

    Parameters
    ----------
    results : sequence of AttributionResult
    metric : {"conversions", "value"}
        Which credit to compare.
    labels : sequence of str, optional
        Column labels; defaults to model names, made unique with ``#2``, ``#3``...

    Returns
    -------
    DataFrame
        Index ``channel`` (every channel of any result); columns a MultiIndex of
        (label, field) with fields ``estimate, lower, upper, share``.

    Examples
    --------
    >>> import causality as ca
    >>> journeys = ca.Journeys.from_events(ca.datasets.load_example())
    >>> frame = ca.compare([ca.attribute(journeys, m, n_bootstrap=20)
    ...                     for m in ("last_click", "linear")])
    >>> frame.columns.get_level_values(0).unique().tolist()
    ['last_click', 'linear']
    """
    if metric not in ("conversions", "value"):
        raise ConfigurationError(f"metric must be 'conversions' or 'value'; got {metric!r}")
    results = list(results)
    if not results or not all(isinstance(r, AttributionResult) for r in results):
        raise ConfigurationError("compare() needs a non-empty list of AttributionResult objects")
    if labels is None:
        labels = _unique_labels([r.model for r in results])
    elif len(labels) != len(results) or len(set(labels)) != len(labels):
        raise ConfigurationError("labels must be unique and one per result")
    parts = {}
    for label, result in zip(labels, results, strict=True):
        t = result.table
        share = t[metric] / t[metric].sum() if metric == "value" else t["share"]
        parts[label] = pd.DataFrame(
            {
                "estimate": t[metric],
                "lower": t[f"{metric}_lower"],
                "upper": t[f"{metric}_upper"],
                "share": share,
            }
        )
    frame = pd.concat(parts, axis=1, names=["model", "field"])
    frame.index.name = "channel"
    return frame.sort_values((labels[0], "estimate"), ascending=False)


def _unique_labels(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out
