"""Comparisons a report draws: last click against the other models, and models against truth."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from causality.errors import ConfigurationError
from causality.results.result import AttributionResult

#: The `Simulation.truth` column a truth frame is compared on.
TRUTH_COLUMN = "incremental_conversions"


def last_click_shares(
    results: Sequence[AttributionResult], labels: Sequence[str], order: Sequence[str]
) -> tuple[pd.DataFrame, str] | None:
    """Share of attributed conversions per channel (rows) and model (columns).

    Returns None when no result is a ``last_click`` model; else the frame and the label of
    the (first) last-click result.
    """
    lc = next((i for i, r in enumerate(results) if r.model == "last_click"), None)
    if lc is None:
        return None
    shares = {
        label: r.table["share"].astype(float) for label, r in zip(labels, results, strict=True)
    }
    frame = pd.DataFrame(shares).reindex(list(order))
    frame.index.name = "channel"
    return frame, labels[lc]


def last_click_findings(shares: pd.DataFrame, last_click: str) -> list[dict[str, object]]:
    """The channels last click over- and under-credits most against the other models.

    Each finding has ``channel``, ``direction`` (``"more"`` or ``"less"``), the last-click
    ``share`` and the other models' ``low`` and ``high`` shares. Empty when last click is
    the only model, or when it lies inside the others' range for every channel.
    """
    others = shares.drop(columns=[last_click])
    if others.empty:
        return []
    lc = shares[last_click].fillna(0.0)
    low, high = others.min(axis=1).fillna(0.0), others.max(axis=1).fillna(0.0)
    findings = []
    for direction, gap in (("more", lc - high), ("less", low - lc)):
        if (gap > 0).any():
            channel = gap.idxmax()
            findings.append(
                {
                    "channel": channel,
                    "direction": direction,
                    "share": float(lc[channel]),
                    "low": float(low[channel]),
                    "high": float(high[channel]),
                }
            )
    return findings


def finding_sentence(finding: dict[str, object], n_others: int) -> str:
    """A finding in words, e.g. 'Last click gives Email 30.0% of attributed conversions; ...'.

    Examples
    --------
    >>> finding_sentence(
    ...     {"channel": "Email", "direction": "more", "share": 0.3, "low": 0.1, "high": 0.1}, 1
    ... )
    'Last click gives Email 30.0% of attributed conversions; the other model gives it 10.0%.'
    """
    others = "the other model gives" if n_others == 1 else "the other models give"
    span = (
        f"{finding['low']:.1%}"
        if n_others == 1 or abs(finding["high"] - finding["low"]) < 5e-4
        else f"{finding['low']:.1%} to {finding['high']:.1%}"
    )
    return (
        f"Last click gives {finding['channel']} {finding['share']:.1%} of attributed "
        f"conversions; {others} it {span}."
    )


def truth_series(truth: pd.DataFrame | pd.Series) -> pd.Series:
    """The true conversions per channel: a Series as is, or a frame's `TRUTH_COLUMN`."""
    if isinstance(truth, pd.DataFrame):
        if TRUTH_COLUMN not in truth.columns:
            raise ConfigurationError(
                f"truth= frame has no column {TRUTH_COLUMN!r} (columns: {list(truth.columns)}). "
                "Fix: pass Simulation.truth, or a Series of true conversions per channel, "
                "e.g. sim.truth['direct_conversions']."
            )
        series = truth[TRUTH_COLUMN]
    elif isinstance(truth, pd.Series):
        series = truth
    else:
        raise ConfigurationError(
            f"truth= must be a DataFrame indexed by channel (Simulation.truth) or a Series; "
            f"got {type(truth).__name__}"
        )
    try:
        values = series.astype(float)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError("truth= values must be numbers of conversions") from exc
    values.index = values.index.astype(object)
    values.index.name = "channel"
    return values.rename(series.name if series.name is not None else TRUTH_COLUMN)


def truth_comparison(
    results: Sequence[AttributionResult],
    labels: Sequence[str],
    truth: pd.Series,
    order: Sequence[str],
) -> pd.DataFrame:
    """Each model's conversions per channel beside the truth.

    Columns ``model, channel, truth, estimate, lower, upper, covered, error``; ``covered``
    says whether the interval contains the truth, ``error`` is estimate minus truth. Channels
    missing from a result count as zero credit (the model gave them none).
    """
    channels = list(dict.fromkeys([*order, *truth.index]))
    parts = []
    for label, result in zip(labels, results, strict=True):
        t = result.table.reindex(channels)
        credited = t.index.isin(result.table.index)
        est = t["conversions"].astype(float).where(credited, 0.0)
        lower = t["conversions_lower"].astype(float).where(credited, 0.0)
        upper = t["conversions_upper"].astype(float).where(credited, 0.0)
        true = truth.reindex(channels).astype(float)
        parts.append(
            pd.DataFrame(
                {
                    "model": label,
                    "channel": channels,
                    "truth": true.to_numpy(),
                    "estimate": est.to_numpy(),
                    "lower": lower.to_numpy(),
                    "upper": upper.to_numpy(),
                    "covered": ((lower <= true) & (true <= upper)).to_numpy(),
                    "error": (est - true).to_numpy(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def truth_summary(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per model: mean absolute error, and how many intervals contain the truth."""
    known = comparison.dropna(subset=["truth"])
    grouped = known.groupby("model", sort=False)
    return pd.DataFrame(
        {
            "mean_absolute_error": grouped["error"].agg(lambda e: float(np.abs(e).mean())),
            "covered": grouped["covered"].sum().astype(int),
            "channels": grouped.size(),
        }
    )
