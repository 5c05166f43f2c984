"""`AttributionResult`: the one result type every model returns."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from causality.errors import ConfigurationError
from causality.results.table import TABLE_COLUMNS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from causality.results.summary import Summary

#: Version of the serialised form written by `AttributionResult.to_dict`.
SCHEMA_VERSION = 1
BASELINE_FIELDS = (
    "conversions",
    "conversions_lower",
    "conversions_upper",
    "value",
    "value_lower",
    "value_upper",
)


@dataclasses.dataclass(frozen=True, eq=False)
class AttributionResult:
    """Per-channel credit with intervals, and the facts of the fit that produced it.

    Attributes
    ----------
    table : DataFrame
        Index ``channel``; columns ``conversions, conversions_lower,
        conversions_upper, value, value_lower, value_upper, share, confidence``.
        ``share`` is conversions / ``total_conversions``. ``confidence`` is
        ``"high" | "medium" | "low"`` from the relative interval width (see
        `causality.results.table.confidence_labels`), ``"none"`` without intervals.
        Interval columns never encode the level: it is ``ci_level``.
    model : str
        Registry name of the model.
    params : dict
        Every parameter of the model, JSON-safe.
    kind : {"allocation", "incrementality"}
        ``allocation`` credit sums to ``total_conversions``; ``incrementality``
        credit is incremental conversions and the rest is ``baseline``.
    ci_level : float
    seed : int or None
    n_journeys : int
    total_conversions, total_value : float
        Conversions (and value) of journeys with at least one touch.
    unattributed_conversions : float
        Conversions with no touch in their lookback window (not credited).
    window : tuple of Timestamp or None
        First and last event timestamps, when known.
    baseline : Series or None
        Incrementality models: organic ``conversions``/``value`` with bounds.
    diagnostics : dict
        Numbers describing the fit (replicates, convergence statistics, ...).
    extras : dict
        Named tables (DataFrames) and numbers a model adds.
    posterior : object or None
        ArviZ InferenceData of Bayesian models.
    metadata : dict
        How the journeys were built, from `Journeys.metadata`, e.g. the channel rule
        set (``channel_rule_set``) that named the channels.
    """

    table: pd.DataFrame
    model: str
    params: dict[str, Any]
    kind: str
    ci_level: float
    seed: int | None
    n_journeys: int
    total_conversions: float
    total_value: float
    unattributed_conversions: float = 0.0
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None
    baseline: pd.Series | None = None
    diagnostics: dict[str, Any] = dataclasses.field(default_factory=dict)
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)
    posterior: Any = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in TABLE_COLUMNS if c not in self.table.columns]
        if missing:
            raise ConfigurationError(f"result table lacks columns {missing}")
        if not self.table.index.is_unique:
            raise ConfigurationError("result table has duplicate channels")

    @property
    def channels(self) -> list[str]:
        """Channel names, in table order."""
        return list(self.table.index)

    def summary(self) -> Summary:
        """A summary that prints as text and renders as HTML in notebooks."""
        from causality.results.summary import Summary

        return Summary(self)

    def plot(self, ax: Axes | None = None, *, metric: str = "conversions") -> Axes:
        """Horizontal bars of credit per channel with interval whiskers.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure when omitted.
        metric : {"conversions", "value"}

        Returns
        -------
        matplotlib Axes
        """
        from causality.results.plotting import plot_results

        return plot_results([self], ax=ax, metric=metric)

    def to_frame(self) -> pd.DataFrame:
        """The table with ``channel`` and ``model`` as columns (a tidy frame)."""
        frame = self.table.reset_index()
        frame.insert(1, "model", self.model)
        return frame

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; `from_dict` rebuilds the result (without ``posterior``)."""
        from causality import __version__

        return {
            "schema_version": SCHEMA_VERSION,
            "causality_version": __version__,
            "model": self.model,
            "kind": self.kind,
            "params": _jsonable(self.params),
            "ci_level": self.ci_level,
            "seed": self.seed,
            "n_journeys": int(self.n_journeys),
            "total_conversions": float(self.total_conversions),
            "total_value": float(self.total_value),
            "unattributed_conversions": float(self.unattributed_conversions),
            "window": None if self.window is None else [ts.isoformat() for ts in self.window],
            "table": _frame_records(self.table.reset_index()),
            "baseline": None if self.baseline is None else _jsonable(self.baseline.to_dict()),
            "diagnostics": _jsonable(self.diagnostics),
            "extras": {k: _encode_extra(v) for k, v in self.extras.items()},
            "metadata": _jsonable(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttributionResult:
        """Rebuild a result from `to_dict` output."""
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ConfigurationError(
                f"cannot read a result of schema_version {version!r}; this causality reads "
                f"version {SCHEMA_VERSION}. Fix: upgrade causality to the version that wrote it "
                f"({data.get('causality_version')!r})."
            )
        table = pd.DataFrame.from_records(data["table"]).set_index("channel")
        table.index = table.index.astype(object)
        table = table[list(TABLE_COLUMNS)]
        table["confidence"] = table["confidence"].astype(object)
        window = data.get("window")
        baseline = data.get("baseline")
        return cls(
            table=table,
            model=data["model"],
            params=dict(data["params"]),
            kind=data["kind"],
            ci_level=data["ci_level"],
            seed=data["seed"],
            n_journeys=data["n_journeys"],
            total_conversions=data["total_conversions"],
            total_value=data["total_value"],
            unattributed_conversions=data.get("unattributed_conversions", 0.0),
            window=None if window is None else tuple(pd.Timestamp(ts) for ts in window),
            baseline=None if baseline is None else pd.Series(baseline, dtype=float),
            diagnostics=dict(data.get("diagnostics", {})),
            extras={k: _decode_extra(v) for k, v in data.get("extras", {}).items()},
            metadata=dict(data.get("metadata", {})),
        )

    def save(self, path: str | Path) -> Path:
        """Write the result as JSON (with the library version) to ``path``.

        A ``posterior`` (ArviZ InferenceData) goes next to it as NetCDF, ``path`` with the
        suffix ``.posterior.nc``, named in the JSON with the ArviZ version that wrote it.
        """
        path = Path(path)
        data = self.to_dict()
        if self.posterior is not None:
            import arviz

            netcdf = path.with_suffix(".posterior.nc")
            self.posterior.to_netcdf(str(netcdf))
            data["posterior"] = {"file": netcdf.name, "arviz_version": arviz.__version__}
        path.write_text(json.dumps(data, indent=1, allow_nan=False))
        return path

    @classmethod
    def load(cls, path: str | Path) -> AttributionResult:
        """Read a result written by `save` (with its posterior, when one was saved)."""
        path = Path(path)
        data = json.loads(path.read_text())
        result = cls.from_dict(data)
        stored = data.get("posterior")
        if stored:
            posterior = _load_posterior(path.parent / stored["file"], stored)
            result = dataclasses.replace(result, posterior=posterior)
        return result

    def __repr__(self) -> str:
        return (
            f"<AttributionResult model={self.model!r} kind={self.kind!r} "
            f"channels={len(self.table)} total_conversions={self.total_conversions:,.1f} "
            f"ci_level={self.ci_level}>"
        )

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def _load_posterior(path: Path, stored: Mapping[str, Any]) -> Any:
    """Read a saved posterior; its ArviZ major version must match the installed one."""
    try:
        import arviz
    except ImportError as exc:
        raise ImportError(
            "this result has a posterior; reading it needs ArviZ: pip install 'causality[bayes]'"
        ) from exc
    written = str(stored.get("arviz_version", ""))
    if written.split(".")[:1] != arviz.__version__.split(".")[:1]:
        raise ConfigurationError(
            f"the posterior in {path.name} was written by ArviZ {written!r}; ArviZ "
            f"{arviz.__version__} is installed. Fix: install arviz=={written} to read it."
        )
    return arviz.from_netcdf(str(path))


def _jsonable(value: Any) -> Any:
    """Convert numpy and pandas scalars and containers into JSON-safe values."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp | pd.Timedelta):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [_jsonable(row) for row in frame.to_dict(orient="records")]


def _encode_extra(value: Any) -> Any:
    if isinstance(value, pd.DataFrame):
        return {"__frame__": _frame_records(value.reset_index()), "index": list(value.index.names)}
    if isinstance(value, pd.Series):
        return {"__series__": _jsonable(value.to_dict()), "name": value.name}
    return _jsonable(value)


def _decode_extra(value: Any) -> Any:
    if isinstance(value, Mapping) and "__frame__" in value:
        frame = pd.DataFrame.from_records(value["__frame__"])
        index = [n for n in value.get("index", []) if n is not None and n in frame.columns]
        return frame.set_index(index) if index else frame.drop(columns="index", errors="ignore")
    if isinstance(value, Mapping) and "__series__" in value:
        return pd.Series(value["__series__"], name=value.get("name"))
    return value
