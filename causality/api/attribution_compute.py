"""Fit one attribution query on stored events and render the response body.

Runs off the event loop (a thread of the app's pool or a job worker). The API
reaches the library through its public functions only: `Journeys.from_events`
and `attribute` (the registry finds the model, plug-ins included).

Models that read only the path table (`path_level`, no timestamps: `markov`,
`shapley`, the position heuristics) are fitted on ``Journeys.by_path()``; when the
app holds the event columns, that table is cut from them directly and shared by
queries on the same data (`causality.api.columns.cache`), equal to the one built
from the event frame.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from causality.api.attribution_data import change_marker, last_received, load_events
from causality.api.attribution_query import AttributionQuery
from causality.api.columns.journeys import WindowJourneys
from causality.api.columns.store import EventStore, Snapshot
from causality.api.columns.window import window_frame
from causality.api.problems import Problem, dumps
from causality.api.settings import Settings
from causality.api.storage import Database
from causality.api.timeutil import format_micros
from causality.errors import (
    CausalityWarning,
    ConfigurationError,
    EstimationError,
    JourneyValidationError,
)

LOW_SAMPLE_CONVERSIONS = 100


@dataclasses.dataclass(frozen=True)
class Computed:
    """A rendered result and the data-change marker it was computed at."""

    body: bytes
    marker: int


def compute(
    db: Database,
    mode: str,
    query: AttributionQuery,
    settings: Settings,
    columns: EventStore | None = None,
) -> Computed:
    """Read the events of ``query`` in one snapshot, fit the model, render the JSON.

    ``columns`` (the app's in-memory event columns) spares reading the events with
    SQL, and for path-table models building the event frame at all (`snapshot_source`);
    the journeys, and so the result, are the same.
    """
    with db.read() as conn:
        # The marker first: the events read next are at least as new, so a change
        # after the marker can only make the cached result look stale, never fresh.
        marker = change_marker(conn, mode)
        received = last_received(conn, mode)
        snapshot = columns.snapshot(conn, mode) if columns is not None else None
        if snapshot is None:
            events: pd.DataFrame | WindowJourneys = load_events(conn, mode, query)
    if snapshot is not None:  # in memory: the read transaction need not stay open
        assert columns is not None
        events = snapshot_source(columns, snapshot, mode, query)
    body = render(events, query, settings, received)
    return Computed(dumps(body), marker)


def snapshot_source(
    columns: EventStore, snapshot: Snapshot, mode: str, query: AttributionQuery
) -> pd.DataFrame | WindowJourneys:
    """What ``query`` is fitted on, from the in-memory columns.

    The path table, cut once per data version and shared (`EventStore.journeys`), for
    models that read only paths; the event frame otherwise.
    """
    if reads_paths(query.model):
        cut = columns.journeys.get(mode, snapshot, query)
        if cut is not None:
            return cut
    return window_frame(snapshot, query)


def reads_paths(model: str) -> bool:
    """Whether ``model`` reads only the path table (so fits on ``Journeys.by_path()``)."""
    from causality.registry import get_model

    cls = get_model(model)
    return bool(getattr(cls, "path_level", False)) and not getattr(cls, "requires_timestamps", True)


def event_frame(
    conn: Connection, mode: str, query: AttributionQuery, columns: EventStore | None = None
) -> Any:
    """The event frame of ``query``: cut from the columns when the app holds them, else SQL."""
    snapshot = columns.snapshot(conn, mode) if columns is not None else None
    if snapshot is None:
        return load_events(conn, mode, query)
    return window_frame(snapshot, query)


def render(
    events: pd.DataFrame | WindowJourneys,
    query: AttributionQuery,
    settings: Settings,
    received: int | None,
) -> dict[str, Any]:
    """The ``attribution_result`` body for an event frame or a path table cut from columns."""
    from causality import Journeys, __version__, attribute

    warnings_out: list[dict[str, Any]] = []
    base: dict[str, Any] = {
        "object": "attribution_result",
        "model": query.model,
        "kind": None,
        "params": query.params,
        "conversion": query.conversion,
        "group_by": query.group_by,
        "lookback_days": query.lookback_days,
        "timezone": query.timezone,
        "currency": query.currency,
        "rule_set": settings.rule_set,
        "library_version": __version__,
        "data_window": {"start": format_micros(query.start_us), "end": format_micros(query.end_us)},
        "data_freshness": {"last_event_received_at": format_micros(received)},
        "computed_at": format_micros(_now_us(settings)),
        "ci_level": query.params.get("ci_level", 0.9),
        "totals": _totals(0.0, 0.0, 0.0, 0),
        "rows": [],
        "baseline": None,
        "diagnostics": {},
        "warnings": warnings_out,
    }
    if isinstance(events, WindowJourneys):
        conversions, unmatched = events.conversions, events.unmatched
    else:
        conversions = 0 if events.empty else int((events["event_type"] == "conversion").sum())
    if conversions == 0:
        base["kind"] = _model_kind(query.model)
        warnings_out.append(
            {"code": "no_data", "detail": f"no {query.conversion!r} conversion in the window"}
        )
        return base
    if not isinstance(events, WindowJourneys):
        unmatched = int(events["anonymous_id"].astype(str).str.startswith("unmatched:").sum())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CausalityWarning)
        try:
            if isinstance(events, WindowJourneys):
                journeys = events.journeys
                assert journeys is not None  # there are conversions
            else:
                journeys = Journeys.from_events(events, lookback=f"{query.lookback_days}D")
                if reads_paths(query.model):
                    journeys = journeys.by_path()
            if journeys.total_conversions == 0:
                base["kind"] = _model_kind(query.model)
                base["totals"] = _totals(
                    journeys.unattributed_conversions,
                    journeys.unattributed_value,
                    journeys.unattributed_conversions,
                    len(journeys),
                )
                warnings_out.append(
                    {
                        "code": "no_attributable_conversions",
                        "detail": "no conversion has a touch in its lookback window",
                    }
                )
                return base
            result = attribute(journeys, query.model, **query.params)
        except ConfigurationError as exc:
            raise Problem("invalid_parameter", str(exc), param="param") from None
        except (JourneyValidationError, EstimationError) as exc:
            raise Problem("estimation_failed", f"the model could not be fitted: {exc}") from None
        except ImportError as exc:
            raise Problem("model_unavailable", str(exc), param="model") from None
    for warning in caught:
        if issubclass(warning.category, CausalityWarning):
            warnings_out.append(
                {"code": _warning_code(warning.category), "detail": str(warning.message)}
            )
    data = result.to_dict()
    base.update(
        kind=data["kind"],
        params=data["params"],
        ci_level=data["ci_level"],
        totals=_totals(
            data["total_conversions"] + data["unattributed_conversions"],
            data["total_value"] + journeys.unattributed_value,
            data["unattributed_conversions"],
            data["n_journeys"],
        ),
        rows=[_row(r) for r in data["table"]],
        baseline=_baseline(data["baseline"]),
        diagnostics=data["diagnostics"],
    )
    if data["total_conversions"] < LOW_SAMPLE_CONVERSIONS:
        warnings_out.append(
            {
                "code": "low_sample",
                "detail": f"{data['total_conversions']:.0f} attributed conversions; intervals are "
                "wide below 100",
            }
        )
    if unmatched:
        warnings_out.append(
            {
                "code": "unmatched_offline_conversions",
                "detail": f"{unmatched} offline conversion(s) matched no journey; counted as "
                "unattributed",
            }
        )
    return base


def _now_us(settings: Settings) -> int:
    from causality.api.timeutil import to_micros

    return to_micros(settings.now())


def _model_kind(model: str) -> str:
    from causality.registry import get_model

    return get_model(model).kind


def _warning_code(category: type) -> str:
    name = category.__name__
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _money(value: float | None) -> str:
    return f"{(value or 0.0):.2f}"


def _totals(
    conversions: float, revenue: float, unattributed: float, journeys: int
) -> dict[str, Any]:
    return {
        "conversions": float(conversions),
        "revenue": _money(revenue),
        "unattributed_conversions": float(unattributed),
        "journeys": int(journeys),
    }


def _row(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": str(record["channel"]),
        "conversions": record["conversions"],
        "conversions_lower": record["conversions_lower"],
        "conversions_upper": record["conversions_upper"],
        "revenue": _money(record["value"]),
        "revenue_lower": _money(record["value_lower"]),
        "revenue_upper": _money(record["value_upper"]),
        "share": record["share"],
        "confidence": record["confidence"],
    }


def _baseline(baseline: dict[str, Any] | None) -> dict[str, Any] | None:
    if baseline is None:
        return None
    out: dict[str, Any] = {}
    for name, value in baseline.items():
        if name.startswith("value"):
            out["revenue" + name[len("value") :]] = _money(value)
        else:
            out[name] = value
    return out
