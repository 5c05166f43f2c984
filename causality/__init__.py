"""causality: causal marketing attribution.

Journeys in, per-channel credit with intervals out::

    import causality as ca

    events = ca.datasets.load_example()
    journeys = ca.Journeys.from_events(events, lookback="30D")
    result = ca.attribute(journeys, model="last_click", ci_level=0.9, seed=0)
    result.table

Heavy optional dependencies (pymc, arviz, fastapi, matplotlib) are imported only
by the functions that need them; submodules load on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

from causality._version import __version__
from causality.attribution import attribute
from causality.journeys import Journeys
from causality.registry import available_models
from causality.reports import Report, report
from causality.results import AttributionResult
from causality.results.compare import compare
from causality.simulate import Simulation, simulate  # binds the name `simulate` to the function

__all__ = [
    "AttributionResult",
    "Journeys",
    "Report",
    "Simulation",
    "__version__",
    "attribute",
    "available_models",
    "compare",
    "report",
    "simulate",
]

_LAZY_SUBMODULES = frozenset(
    {
        "channels",
        "cli",
        "datasets",
        "errors",
        "io",
        "models",
        "registry",
        "results",
        "spark",
        "testing",
    }
)


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(f"causality.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'causality' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_SUBMODULES})
