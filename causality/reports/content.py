"""What a report says, as plain numbers and frames; the renderers only format it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from causality.errors import ConfigurationError
from causality.journeys import Journeys
from causality.results.result import AttributionResult
from causality.results.table import TABLE_COLUMNS

#: Columns of the report's tidy channel table (`channel_frame`), in order.
CHANNEL_FRAME_COLUMNS = ("model", "kind", "ci_level", "entry", "channel", *TABLE_COLUMNS)

#: Diagnostics whose value suggests an unreliable posterior: name -> (test, why).
_DIAGNOSTIC_LIMITS = {
    "r_hat_max": (lambda v: v > 1.01, "above 1.01: the chains disagree; sample longer"),
    "ess_bulk_min": (lambda v: v < 400, "below 400: too few effective draws; sample longer"),
    "ess_tail_min": (lambda v: v < 400, "below 400: the interval ends are imprecise"),
    "divergences": (lambda v: v > 0, "above 0: the sampler struggled; intervals may be off"),
}

_TOTALS = ("n_journeys", "total_conversions", "total_value", "unattributed_conversions")


def check_same_journeys(results: Sequence[AttributionResult], labels: Sequence[str]) -> None:
    """Raise `ConfigurationError` unless every result was fitted on the same journeys.

    Results of one report must describe the same journeys: equal journey counts, attributed
    and unattributed conversions, and value (to rounding), else their credit is not
    comparable side by side.
    """
    first = results[0]
    for label, result in zip(labels[1:], results[1:], strict=True):
        differ = [
            f"{name}: {getattr(first, name):,.6g} ({labels[0]}) vs {getattr(result, name):,.6g}"
            for name in _TOTALS
            if not math.isclose(getattr(first, name), getattr(result, name), rel_tol=1e-9)
        ]
        if differ:
            raise ConfigurationError(
                f"result {label!r} was not fitted on the same journeys as {labels[0]!r}: "
                f"{'; '.join(differ)}. Fix: fit every model of one report on the same "
                "Journeys object."
            )


def check_journeys_match(journeys: Journeys, result: AttributionResult, label: str) -> None:
    """Raise `ConfigurationError` unless ``journeys`` are the ones ``result`` was fitted on."""
    ours = {"n_journeys": len(journeys), "total_conversions": journeys.total_conversions}
    differ = [
        f"{name}: {value:,.6g} (journeys) vs {getattr(result, name):,.6g} ({label})"
        for name, value in ours.items()
        if not math.isclose(value, getattr(result, name), rel_tol=1e-9)
    ]
    if differ:
        raise ConfigurationError(
            f"journeys= are not the journeys the results were fitted on: {'; '.join(differ)}. "
            "Fix: pass the Journeys object the models were fitted on."
        )


def channel_order(results: Sequence[AttributionResult]) -> list[str]:
    """Every channel of any result, by mean share across results (largest first), then name."""
    shares = pd.concat([r.table["share"].astype(float) for r in results], axis=1)
    mean = shares.fillna(0.0).mean(axis=1)
    return sorted(mean.index, key=lambda channel: (-mean[channel], str(channel)))


def headline(results: Sequence[AttributionResult]) -> dict[str, Any]:
    """The facts at the top of a report: period, journeys, conversions and value."""
    first = results[0]
    window = next((r.window for r in results if r.window is not None), None)
    start, end = (
        (None, None) if window is None else (pd.Timestamp(window[0]), pd.Timestamp(window[1]))
    )
    n_days = None if window is None else (end.normalize() - start.normalize()).days + 1
    channels = {c for r in results for c in r.table.index}
    return {
        "period_start": None if start is None else start.isoformat(),
        "period_end": None if end is None else end.isoformat(),
        "n_days": n_days,
        "n_journeys": int(first.n_journeys),
        "conversions": float(first.total_conversions + first.unattributed_conversions),
        "attributed_conversions": float(first.total_conversions),
        "unattributed_conversions": float(first.unattributed_conversions),
        "value": float(first.total_value),
        "n_channels": len(channels),
        "channel_rule_set": next(
            (r.metadata["channel_rule_set"] for r in results if "channel_rule_set" in r.metadata),
            None,
        ),
    }


def channel_frame(
    results: Sequence[AttributionResult], labels: Sequence[str], order: Sequence[str]
) -> pd.DataFrame:
    """One tidy table of every result: a row per model and channel, plus baseline rows.

    Columns are `CHANNEL_FRAME_COLUMNS`; ``entry`` is ``"channel"``, or ``"baseline"`` for an
    incrementality model's organic conversions (whose ``channel`` is empty). Numbers are the
    results' own, unrounded.
    """
    parts = []
    for label, result in zip(labels, results, strict=True):
        table = result.table.reindex([c for c in order if c in result.table.index])
        part = table.reset_index().rename(columns={table.index.name or "index": "channel"})
        part.insert(0, "entry", "channel")
        if result.baseline is not None:
            base = {k: float(v) for k, v in result.baseline.items()}
            base.update(entry="baseline", channel="", share=np.nan, confidence="")
            part = pd.concat([part, pd.DataFrame([base])], ignore_index=True)
        part.insert(0, "ci_level", result.ci_level)
        part.insert(0, "kind", result.kind)
        part.insert(0, "model", label)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)[list(CHANNEL_FRAME_COLUMNS)]


def diagnostics_rows(result: AttributionResult) -> list[dict[str, Any]]:
    """The result's diagnostics, nested mappings flattened to ``a.b`` names.

    Each row has ``name``, ``value`` and ``warning`` (a reason when a convergence
    statistic is out of its safe range, else ``""``).
    """
    rows = []
    for name, value in _flatten(result.diagnostics):
        check = _DIAGNOSTIC_LIMITS.get(name)
        warn = ""
        if check and isinstance(value, int | float) and not isinstance(value, bool):
            warn = check[1] if check[0](value) else ""
        rows.append({"name": name, "value": value, "warning": warn})
    return rows


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(_flatten(value, prefix=f"{name}."))
        else:
            out.append((name, value.item() if isinstance(value, np.generic) else value))
    return out


def top_paths(journeys: Journeys, n: int = 10) -> pd.DataFrame:
    """The ``n`` paths with the most conversions.

    Returns
    -------
    DataFrame
        Columns ``path`` (tuple of channel names, in touch order), ``conversions``,
        ``value``, ``nulls`` (non-converting journeys of the same path), ``conversion_rate``
        and ``share`` (of all attributed conversions). Sorted by conversions, then
        non-converting journeys, descending; remaining ties keep the order of
        `Journeys.by_path`, which does not depend on input row order.
    """
    grouped = journeys.by_path()
    converting = np.flatnonzero(grouped.conversions > 0)
    # Most conversions first, then most journeys (nulls); the rest in by_path order.
    rank = np.lexsort((-grouped.nulls[converting], -grouped.conversions[converting]))
    keep = converting[rank[:n]]
    # Only the kept paths are spelled out: the loop runs over at most n paths.
    names = np.asarray(journeys.channels, dtype=object)
    starts, ends = grouped.offsets[keep], grouped.offsets[keep + 1]
    frame = pd.DataFrame(
        {
            "path": [tuple(names[grouped.codes[a:b]]) for a, b in zip(starts, ends, strict=True)],
            "conversions": grouped.conversions[keep],
            "value": grouped.value[keep],
            "nulls": grouped.nulls[keep],
        }
    )
    journeys_on_path = frame["conversions"] + frame["nulls"]
    frame["conversion_rate"] = frame["conversions"] / journeys_on_path.where(journeys_on_path > 0)
    total = journeys.total_conversions
    frame["share"] = frame["conversions"] / total if total > 0 else np.nan
    return frame
