"""Bar charts of channel credit with interval whiskers (matplotlib, imported lazily)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from causality.errors import ConfigurationError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from causality.results.result import AttributionResult


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'causality[plot]'") from exc
    return plt


def plot_results(
    results: Sequence[AttributionResult],
    *,
    ax: Axes | None = None,
    metric: str = "conversions",
    labels: Sequence[str] | None = None,
) -> Axes:
    """Grouped horizontal bars, one group per channel and one bar per result.

    Parameters
    ----------
    results : sequence of AttributionResult
    ax : matplotlib Axes, optional
    metric : {"conversions", "value"}
    labels : sequence of str, optional
        Legend labels; defaults to the model names.

    Returns
    -------
    matplotlib Axes
    """
    if metric not in ("conversions", "value"):
        raise ConfigurationError(f"metric must be 'conversions' or 'value'; got {metric!r}")
    plt = _pyplot()
    if ax is None:
        n_channels = len({c for r in results for c in r.table.index})
        _, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * n_channels * max(1, len(results)) ** 0.5))
    channels = list(dict.fromkeys(c for r in results for c in r.table.index))
    order = results[0].table[metric].reindex(channels).fillna(0).sort_values().index
    labels = list(labels) if labels is not None else [r.model for r in results]
    height = 0.8 / len(results)
    y = np.arange(len(order))
    for i, (result, label) in enumerate(zip(results, labels, strict=True)):
        t = result.table.reindex(order)
        est = t[metric].to_numpy(dtype=float)
        err = np.vstack([est - t[f"{metric}_lower"], t[f"{metric}_upper"] - est])
        ax.barh(
            y + (i - (len(results) - 1) / 2) * height,
            est,
            height=height,
            label=label,
            xerr=np.nan_to_num(err),
            capsize=2,
            error_kw={"elinewidth": 1},
        )
    ax.set_yticks(y, [str(c) for c in order])
    level = results[0].ci_level
    ax.set_xlabel(f"{metric} credited ({level:.0%} intervals)")
    if len(results) > 1:
        ax.legend(loc="lower right", fontsize="small")
    ax.set_title(f"Attribution by channel: {', '.join(dict.fromkeys(labels))}", fontsize="medium")
    return ax
