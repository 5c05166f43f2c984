"""The model base class: validation, the bootstrap, intervals and result assembly.

A model is a frozen, keyword-only dataclass of hyper-parameters. Subclasses write
only the estimator, `AttributionModel._credit`, which maps a batch of resampled
journey counts to channel credit, vectorised over the batch. Everything else
(input checks, bootstrap intervals, confidence labels, the result) lives here.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.special import pdtr

from causality._progress import progress_bar
from causality._validation import check_count, check_probability_level, check_seed
from causality.errors import ConfigurationError, JourneyValidationError
from causality.journeys import Journeys
from causality.results import AttributionResult, build_table

#: Bootstrap replicates are drawn in batches of at most this many cells (replicates
#: x records), which bounds memory whatever the number of replicates.
BOOTSTRAP_BATCH_CELLS = 4_000_000


@dataclasses.dataclass(frozen=True, kw_only=True)
class AttributionModel:
    """Base class of every attribution model.

    Parameters
    ----------
    ci_level : float, default 0.9
        Level of the intervals (equal-tailed percentile bootstrap intervals).
    n_bootstrap : int, default 200
        Bootstrap replicates over journeys. ``0`` skips intervals:
        ``lower == upper == estimate`` and ``confidence == "none"``.
    seed : int or None, default 0
        Seed of every random choice; the result records it. ``None`` draws fresh
        entropy (not reproducible).
    progress : bool or None, default None
        Show a progress bar for long work (bootstrap replicates, sampling). ``None``
        shows one only in a terminal or notebook (and never with
        ``CAUSALITY_PROGRESS=0``). A display setting: it changes no estimate and is
        not among the result's ``params``.

    Notes
    -----
    Intervals come from a Poisson bootstrap over journeys: every journey gets an
    independent Poisson(1) weight, which for a record holding ``n`` identical
    journeys is a Poisson(``n``) count, so replicates are drawn per record, never
    per journey. Value moves with conversions at the record's mean value per
    conversion. Percentile intervals are widened, if needed, to contain the point
    estimate, so ``lower <= estimate <= upper`` always holds.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "allocation"
    description: ClassVar[str] = ""
    #: Whether the estimator needs touch timestamps (path tables have none).
    requires_timestamps: ClassVar[bool] = False
    #: Whether credit depends only on the channel sequence, so records can be merged.
    path_level: ClassVar[bool] = True
    #: Whether the estimator reads non-converting journeys.
    uses_nulls: ClassVar[bool] = False

    ci_level: float = 0.9
    n_bootstrap: int = 200
    seed: int | None = 0
    progress: bool | None = dataclasses.field(
        default=None, compare=False, metadata={"display_only": True}
    )

    def __post_init__(self) -> None:
        check_probability_level("ci_level", self.ci_level)
        check_count("n_bootstrap", self.n_bootstrap, minimum=0)
        check_seed(self.seed)
        self._validate()

    def _validate(self) -> None:
        """Check the model's own parameters; raise `ConfigurationError` on a bad one."""

    # -- construction from a mapping ------------------------------------------------
    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """Names of the model's parameters, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.init)

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None = None) -> AttributionModel:
        """Build the model from a mapping of parameters, refusing unknown names."""
        params = dict(params or {})
        unknown = sorted(set(params) - set(cls.param_names()))
        if unknown:
            raise ConfigurationError(
                f"unknown parameter(s) {unknown} for model {cls.name!r}. Valid parameters: "
                f"{list(cls.param_names())}"
            )
        return cls(**params)

    @classmethod
    def param_schema(cls) -> dict[str, Any]:
        """A JSON Schema of the model's parameters, derived from its dataclass fields."""
        hints = typing.get_type_hints(cls)
        properties: dict[str, Any] = {}
        for f in estimation_fields(cls):
            prop = dict(_json_type(hints.get(f.name, Any)))
            default = f.default if f.default is not dataclasses.MISSING else None
            if isinstance(default, str | int | float | bool) or default is None:
                prop["default"] = default
            prop.update(f.metadata.get("schema", {}))
            properties[f.name] = prop
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": cls.name,
            "description": cls.description,
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }

    def params(self) -> dict[str, Any]:
        """The model's parameters as a JSON-safe dict."""
        return {f.name: _json_safe(getattr(self, f.name)) for f in estimation_fields(self)}

    # -- fitting ----------------------------------------------------------------------
    def fit(self, journeys: Journeys | pd.DataFrame) -> AttributionResult:
        """Attribute the conversions of ``journeys`` to channels.

        Parameters
        ----------
        journeys : Journeys or DataFrame
            A DataFrame is read as a path table when it has a ``path`` column and as an
            event log otherwise, with default column names.

        Returns
        -------
        AttributionResult
        """
        journeys = as_journeys(journeys)
        self._check_journeys(journeys)
        data = self._prepare(journeys)
        point_conv, point_value = self._credit(
            data,
            data.conversions[None, :],
            data.value[None, :],
            data.nulls[None, :] if self.uses_nulls else None,
        )
        point_conv, point_value = point_conv[0], point_value[0]
        if self.n_bootstrap > 0:
            conv_reps, value_reps = self._bootstrap(data)
            tail = (1.0 - self.ci_level) / 2.0
            conv_bounds = np.quantile(conv_reps, [tail, 1.0 - tail], axis=0)
            value_bounds = np.quantile(value_reps, [tail, 1.0 - tail], axis=0)
        else:
            conv_bounds = np.stack([point_conv, point_conv])
            value_bounds = np.stack([point_value, point_value])
        table = build_table(
            channels=journeys.channels,
            conversions=point_conv,
            conversions_bounds=conv_bounds,
            value=point_value,
            value_bounds=value_bounds,
            total_conversions=journeys.total_conversions,
            has_intervals=self.n_bootstrap > 0,
        )
        return result_for(
            self,
            journeys,
            table,
            diagnostics={"n_bootstrap": self.n_bootstrap, "n_records": data.n_records},
            extras=self._extras(data),
        )

    def _check_journeys(self, journeys: Journeys) -> None:
        if journeys.total_conversions <= 0:
            raise JourneyValidationError(
                "no attributable conversions: no journey with a touch ends in a conversion "
                f"({journeys.unattributed_conversions:,.0f} conversions had no touch in their "
                "window). Fix: check conversion_types= and lookback= when building journeys."
            )
        if self.requires_timestamps and not journeys.has_timestamps:
            raise JourneyValidationError(
                f"model {self.name!r} needs touch timestamps, but these journeys come from a "
                "path table (no 'timestamp'). Fix: build them with Journeys.from_events(events) "
                "from an event log with a timestamp column."
            )

    def _prepare(self, journeys: Journeys) -> Journeys:
        """The records the estimator reads: merged by path where credit allows."""
        data = journeys.by_path() if self.path_level else journeys
        if not self.uses_nulls:
            data = data.take(data.conversions > 0)
        return data

    def _bootstrap(self, data: Journeys) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        conversions, nulls = data.conversions, data.nulls
        value_per_conversion = np.divide(
            data.value, conversions, out=np.zeros_like(data.value), where=conversions > 0
        )
        batch = max(1, BOOTSTRAP_BATCH_CELLS // max(1, data.n_records))
        conv_sampler = PoissonSampler(conversions)
        null_sampler = PoissonSampler(nulls) if self.uses_nulls else None
        conv_parts, value_parts = [], []
        with progress_bar(self.n_bootstrap, f"{self.name} bootstrap", self.progress) as bar:
            for start in range(0, self.n_bootstrap, batch):
                size = min(batch, self.n_bootstrap - start)
                conv_w = conv_sampler.draw(rng, size)
                null_w = null_sampler.draw(rng, size) if null_sampler is not None else None
                conv, value = self._credit(data, conv_w, conv_w * value_per_conversion, null_w)
                conv_parts.append(conv)
                value_parts.append(value)
                bar.update(size)
        return np.concatenate(conv_parts), np.concatenate(value_parts)

    def _credit(
        self,
        data: Journeys,
        conversions: np.ndarray,
        value: np.ndarray,
        nulls: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Channel credit for a batch of resampled counts.

        Parameters
        ----------
        data : Journeys
            The records (merged by path when ``path_level``).
        conversions, value : ndarray, shape (n_batch, n_records)
            Converting journeys and their value per record, one row per replicate;
            row 0 of the point estimate is the observed data.
        nulls : ndarray, shape (n_batch, n_records), or None
            Non-converting journeys, when the model ``uses_nulls``.

        Returns
        -------
        conversions, value : ndarray, shape (n_batch, n_channels)
        """
        raise ConfigurationError(
            f"model {type(self).__name__} defines no estimator: a model overrides _credit "
            "(and inherits bootstrap intervals) or overrides fit entirely"
        )

    def _extras(self, data: Journeys) -> dict[str, Any]:
        """Named tables and numbers the model adds to its result."""
        return {}


def estimation_fields(model: Any) -> list[dataclasses.Field]:
    """The dataclass fields that are estimation parameters (display settings left out)."""
    return [
        f for f in dataclasses.fields(model) if f.init and not f.metadata.get("display_only", False)
    ]


def result_for(
    model: Any, journeys: Journeys, table: pd.DataFrame, **fields: Any
) -> AttributionResult:
    """An `AttributionResult` of ``model`` on ``journeys``: the metadata every model records.

    ``fields`` add ``baseline``, ``diagnostics``, ``extras`` or ``posterior``. Models that
    override ``fit`` (Bayesian ones) assemble their result here too.
    """
    return AttributionResult(
        table=table,
        model=model.name,
        params=model.params(),
        kind=model.kind,
        ci_level=model.ci_level,
        seed=model.seed,
        n_journeys=len(journeys),
        total_conversions=journeys.total_conversions,
        total_value=journeys.total_value,
        unattributed_conversions=journeys.unattributed_conversions,
        window=journeys.window,
        metadata=dict(journeys.metadata),
        **fields,
    )


class PoissonSampler:
    """Draws Poisson(``counts``) rows, shape ``(size, len(counts))``, as floats.

    Counts are mostly a few small integers, so cells of equal rate are drawn
    together by inverting that rate's CDF (one uniform per draw, about twice as
    fast as numpy's Poisson sampler). Cells are drawn in rate order, each rate a
    contiguous block, and put back in place with one gather per batch. The
    grouping is computed once per fit, not once per batch of replicates; very many
    distinct rates (real-valued counts) fall back to numpy.
    """

    #: Above this many distinct rates, numpy's sampler beats one CDF table per rate.
    MAX_TABLES = 4096
    #: Rates above this are drawn by numpy: their CDF tables would be long.
    MAX_TABLE_RATE = 1e4

    def __init__(self, counts: np.ndarray) -> None:
        self.counts = np.asarray(counts, dtype=np.float64)
        rates, index = np.unique(self.counts, return_inverse=True)
        self.rates = rates
        if len(rates) > self.MAX_TABLES:
            return
        self.order = np.argsort(index, kind="stable")
        self.place = np.empty_like(self.order)
        self.place[self.order] = np.arange(len(self.order))
        self.bounds = np.searchsorted(index[self.order], np.arange(len(rates) + 1))
        self.cdfs: list[np.ndarray | None] = [  # one table per distinct rate, never per journey
            pdtr(np.arange(int(rate + 12 * np.sqrt(rate) + 25)), rate)
            if 0 < rate <= self.MAX_TABLE_RATE
            else None
            for rate in rates
        ]

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """One batch of ``size`` replicates."""
        n = len(self.counts)
        if len(self.rates) > self.MAX_TABLES:
            return rng.poisson(self.counts, size=(size, n)).astype(np.float64)
        uniforms = rng.random((size, n))
        drawn = np.empty((size, n), dtype=np.float64)
        blocks = zip(self.rates, self.cdfs, self.bounds[:-1], self.bounds[1:], strict=True)
        for rate, cdf, lo, hi in blocks:
            if rate <= 0:
                drawn[:, lo:hi] = 0.0
            elif cdf is None:
                drawn[:, lo:hi] = rng.poisson(rate, size=(size, hi - lo))
            else:
                drawn[:, lo:hi] = np.searchsorted(cdf, uniforms[:, lo:hi], side="right")
        return drawn[:, self.place]


def poisson_counts(rng: np.random.Generator, counts: np.ndarray, size: int) -> np.ndarray:
    """Poisson(``counts``) draws, shape ``(size, len(counts))`` (see `PoissonSampler`)."""
    return PoissonSampler(counts).draw(rng, size)


def as_journeys(data: Journeys | pd.DataFrame) -> Journeys:
    """Accept `Journeys`, or a DataFrame read as a path table or an event log."""
    if isinstance(data, Journeys):
        return data
    if isinstance(data, pd.DataFrame):
        if "path" in data.columns:
            return Journeys.from_paths(data)
        return Journeys.from_events(data)
    raise JourneyValidationError(
        f"expected Journeys or a pandas DataFrame, got {type(data).__name__}. Fix: build "
        "journeys with ca.Journeys.from_events(events) or ca.Journeys.from_paths(table)."
    )


def _json_type(hint: Any) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        inner = _json_type(args[0]) if len(args) == 1 else {}
        nullable = len(args) < len(typing.get_args(hint))
        if nullable and "type" in inner:
            return {**inner, "type": [inner["type"], "null"]}
        return inner
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(hint))}
    mapping = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if hint in mapping:
        return {"type": mapping[hint]}
    if origin in (tuple, list):
        return {"type": "array"}
    return {}


def _json_safe(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timedelta):
        return str(value)
    if isinstance(value, tuple | list):
        return [_json_safe(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return value
