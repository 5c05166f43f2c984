"""The channel table every result carries, and its confidence labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Columns of ``AttributionResult.table``, in order (index: ``channel``).
TABLE_COLUMNS = (
    "conversions",
    "conversions_lower",
    "conversions_upper",
    "value",
    "value_lower",
    "value_upper",
    "share",
    "confidence",
)

#: Relative interval width, (upper - lower) / |estimate|, at or below which credit is
#: labelled "high" and "medium" confidence; wider intervals are "low".
CONFIDENCE_THRESHOLDS = {"high": 0.5, "medium": 1.0}


def confidence_labels(
    estimate: np.ndarray, lower: np.ndarray, upper: np.ndarray, *, has_intervals: bool = True
) -> np.ndarray:
    """Label each estimate by the relative width of its interval.

    ``high`` when ``(upper - lower) / |estimate| <= 0.5``, ``medium`` when
    ``<= 1.0``, ``low`` otherwise. A zero estimate with a zero-width interval is
    ``high`` (confidently nothing); with a positive width, ``low``. Without
    intervals (``n_bootstrap=0``) every label is ``none``.
    """
    estimate = np.asarray(estimate, dtype=float)
    if not has_intervals:
        return np.full(estimate.shape, "none", dtype=object)
    width = np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float)
    scale = np.abs(estimate)
    relative = np.divide(width, scale, out=np.full_like(width, np.inf), where=scale > 0)
    relative = np.where((scale == 0) & (width <= 0), 0.0, relative)
    labels = np.full(estimate.shape, "low", dtype=object)
    labels[relative <= CONFIDENCE_THRESHOLDS["medium"]] = "medium"
    labels[relative <= CONFIDENCE_THRESHOLDS["high"]] = "high"
    return labels


def build_table(
    *,
    channels: Sequence[str],
    conversions: np.ndarray,
    conversions_bounds: np.ndarray,
    value: np.ndarray,
    value_bounds: np.ndarray,
    total_conversions: float,
    has_intervals: bool = True,
) -> pd.DataFrame:
    """Assemble the channel table; intervals are widened to contain the estimate."""
    conv_lower = np.minimum(conversions_bounds[0], conversions)
    conv_upper = np.maximum(conversions_bounds[1], conversions)
    value_lower = np.minimum(value_bounds[0], value)
    value_upper = np.maximum(value_bounds[1], value)
    share = conversions / total_conversions if total_conversions else np.zeros_like(conversions)
    table = pd.DataFrame(
        {
            "conversions": conversions,
            "conversions_lower": conv_lower,
            "conversions_upper": conv_upper,
            "value": value,
            "value_lower": value_lower,
            "value_upper": value_upper,
            "share": share,
            "confidence": confidence_labels(
                conversions, conv_lower, conv_upper, has_intervals=has_intervals
            ),
        },
        index=pd.Index(list(channels), name="channel", dtype=object),
    )
    table["confidence"] = table["confidence"].astype(object)
    return table
