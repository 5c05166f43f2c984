"""The model base class: validation, the bootstrap, intervals and result assembly.

A model is a frozen, keyword-only dataclass of hyper-parameters. Subclasses write
only the estimator, `AttributionModel._credit`, which maps a batch of resampled
journey counts to channel credit, vectorised over the batch. Everything else
(input checks, bootstrap intervals, confidence labels, the result) lives here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import types
import typing
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
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
#: Replicates drawn together from one random stream, record by record (`PoissonSampler.
#: fill`): at most this many; sixteen float32 draws of a record fill one 64-byte cache
#: line, which the sparse products read whole.
MAX_REPLICATE_LANES = 16
#: Fewer lanes when a block of draws would pass this size (tens of millions of records).
REPLICATE_BLOCK_BYTES = 128 << 20


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
    n_jobs : int or None, default None
        Threads that compute bootstrap replicates; ``None`` uses every CPU this process may
        run on. Replicates are drawn in blocks, each from a random stream of its own, so the
        result is the same for any ``n_jobs`` (and any batch size). Like ``progress``, an
        execution setting, not among the result's ``params``. Models whose estimator is not
        marked thread-safe (``parallel_replicates = False``, the default for plug-ins) run
        their replicates in the calling thread.

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
    #: Whether `_credit_replicates` may run in several threads at once (it reads only
    #: its arguments and the journeys' cache, and releases the GIL in numpy/scipy).
    parallel_replicates: ClassVar[bool] = False
    #: Bootstrap batches hold this many times `BOOTSTRAP_BATCH_CELLS` (in float64 terms):
    #: for an estimator whose cost per batch is mostly fixed and whose cells are cheap.
    bootstrap_batch_scale: ClassVar[int] = 1

    ci_level: float = 0.9
    n_bootstrap: int = 200
    seed: int | None = 0
    progress: bool | None = dataclasses.field(
        default=None, compare=False, metadata={"display_only": True}
    )
    # An execution setting: marked like `progress`, since it changes no estimate either.
    n_jobs: int | None = dataclasses.field(
        default=None, compare=False, metadata={"display_only": True}
    )

    def __post_init__(self) -> None:
        check_probability_level("ci_level", self.ci_level)
        check_count("n_bootstrap", self.n_bootstrap, minimum=0)
        check_seed(self.seed)
        if self.n_jobs is not None:
            check_count("n_jobs", self.n_jobs, minimum=1)
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
        conversions, nulls = data.conversions, data.nulls
        value_per_conversion = np.divide(
            data.value, conversions, out=np.zeros_like(data.value), where=conversions > 0
        )
        dtype = self._replicate_dtype(data)
        n = max(1, data.n_records)
        # Replicates come in blocks of `lanes`, each block drawn from a stream of its own,
        # so how blocks are batched or spread over threads changes no draw.
        lanes = replicate_lanes(n, dtype)
        n_blocks = -(-self.n_bootstrap // lanes)
        streams = replicate_streams(self.seed, n_blocks)
        workers = bootstrap_workers(self.n_jobs) if self.parallel_replicates else 1
        # Narrower cells cost less memory, so more of them fit in one batch. Threads share
        # twice the budget: halving each of two threads' batches cost more time than the
        # second thread saved (1.5M paths: 3.8 s vs 3.0 s with whole batches, 4.2 s alone).
        cells = BOOTSTRAP_BATCH_CELLS * self.bootstrap_batch_scale * (8 // np.dtype(dtype).itemsize)
        # Whole blocks, rounded up: fewer replicates per batch than the budget allows slowed
        # estimators whose cost per batch is mostly fixed (markov order 2 on 360k paths:
        # 32 instead of 44 replicates a batch took 25 s instead of 22).
        per_batch = max(1, -(-cells * min(2, workers) // (n * workers * lanes)))  # blocks
        drawn_records = self._replicate_conversion_records(data)
        if drawn_records is not None:
            conversions = conversions[drawn_records]
        conv_sampler = PoissonSampler(conversions)
        null_sampler = PoissonSampler(nulls) if self.uses_nulls else None

        # Draw arrays go back to a shared stock after each batch, for the next batch on
        # any thread: fresh memory costs page faults, which `perf` showed as a large share
        # of the bootstrap's time on a virtual machine (huge pages zeroed on first touch);
        # the stock goes with the fit.
        stock: queue.SimpleQueue[tuple[np.ndarray, np.ndarray | None]] = queue.SimpleQueue()
        width = per_batch * lanes

        def replicates(first: int) -> tuple[np.ndarray, np.ndarray]:
            start, stop = first * lanes, min(self.n_bootstrap, (first + per_batch) * lanes)
            try:
                conv_all, null_all = stock.get_nowait()
            except queue.Empty:
                conv_all = np.empty((len(conversions), width), dtype=dtype)
                null_all = (
                    None
                    if null_sampler is None
                    else np.empty_like(conv_all, shape=(data.n_records, width))
                )
            # Record-major (n_records, n_batch) arrays, handed on as (n_batch, n_records)
            # views: the estimators' products read a record's replicates side by side.
            conv_w = conv_all[:, : stop - start]
            null_w = None if null_all is None else null_all[:, : stop - start]
            for block in range(first, -(-stop // lanes)):
                columns = slice(block * lanes - start, min(stop, (block + 1) * lanes) - start)
                conv_sampler.fill(streams[block], conv_w[:, columns])
                if null_w is not None:
                    null_sampler.fill(streams[block], null_w[:, columns])
            credit = self._credit_replicates(
                data, conv_w.T, value_per_conversion, None if null_w is None else null_w.T
            )
            stock.put((conv_all, null_all))
            return credit

        starts = range(0, n_blocks, per_batch)
        with progress_bar(self.n_bootstrap, f"{self.name} bootstrap", self.progress) as bar:
            # The first batch runs alone: it fills the journeys' cache (chain structure,
            # incidence matrices) that the others then share instead of each building it.
            done = [replicates(starts[0])]
            bar.update(min(per_batch * lanes, self.n_bootstrap))
            rest = starts[1:]
            with _replicate_pool(min(workers, len(rest))) as pool:
                for first, part in zip(rest, pool.map(replicates, rest), strict=True):
                    done.append(part)
                    bar.update(min(per_batch * lanes, self.n_bootstrap - first * lanes))
            conv_parts, value_parts = zip(*done, strict=True)
        return np.concatenate(conv_parts), np.concatenate(value_parts)

    def _replicate_dtype(self, data: Journeys) -> type[np.floating]:
        """The float type replicate counts are drawn in: float64 unless the model opts out.

        A model whose estimator keeps whole-number counts exact in float32 (every draw
        below 2**24) may return ``np.float32`` to halve the memory its batches stream.
        """
        return np.float64

    def _replicate_conversion_records(self, data: Journeys) -> np.ndarray | None:
        """The records whose conversions the bootstrap draws; ``None`` (default): all.

        A model whose `_credit_replicates` reads replicate conversions only on some
        records (say, those with observed conversions) returns them, and then receives
        conversions of shape ``(n_batch, len(records))``, drawn for those records alone.
        """
        return None

    def _credit_replicates(
        self,
        data: Journeys,
        conversions: np.ndarray,
        value_per_conversion: np.ndarray,
        nulls: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Channel credit of a batch of bootstrap replicates (see `_credit`).

        Value moves with conversions at each record's mean value per conversion. A model
        overrides this to credit replicates without the (n_batch, n_records) value array.
        ``conversions`` and ``nulls`` are scratch arrays, drawn afresh for every batch:
        an override may overwrite them.
        """
        return self._credit(data, conversions, conversions * value_per_conversion, nulls)

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
    """The dataclass fields that are estimation parameters.

    Fields marked ``display_only`` change no estimate and are left out: display settings
    (``progress``) and execution settings (``n_jobs``).
    """
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

    Each cell is drawn by inverting its rate's CDF at a uniform, with a guide table
    (Chen and Asau, 1974) in place of a binary search. A cell takes 16 random bits (a
    quarter of a 64-bit word): they pick one of 65,536 equal buckets of [0, 1), and the
    rate's table gives the draw of every bucket that lies within one step of the CDF.
    The few buckets that straddle a step (about one draw in 10,000) are resolved with a
    fresh uniform within the bucket, compared with the CDF, so every draw is exactly
    the inverse CDF at a uniform on [0, 1): exact Poisson draws, no approximation.

    Counts are mostly a few small integers, so there is one table per distinct rate,
    never per journey, built once per fit. Zero counts draw 0 without a random number
    when they are most of the cells (converting journeys of a path table). Rates above
    `MAX_TABLE_RATE`, rates beyond the `MAX_GUIDE_TABLES` most frequent ones, and
    everything when there are more than `MAX_TABLES` distinct rates (real-valued counts)
    are drawn by numpy. A block of replicates (`fill`) comes from one generator, record
    by record: the bootstrap gives every block of `replicate_lanes` replicates a
    generator of its own, so neither batching nor threads change a replicate.
    """

    #: Above this many distinct rates, numpy draws every cell.
    MAX_TABLES = 4096
    #: Rates above this are drawn by numpy (their draws would not fit the uint8 tables).
    MAX_TABLE_RATE = 64.0
    #: Guide tables kept (the most frequent rates), 64 KiB each.
    MAX_GUIDE_TABLES = 255
    #: Buckets per table: 2**16, so a bucket straddles a CDF step with probability ~1e-4
    #: (fixed: a bucket is a 16-bit lane of a random word).
    GUIDE_BITS = 16
    #: Rates up to this may be drawn as float32: a Poisson(2**20) draw reaches 2**24,
    #: where float32 starts rounding whole numbers, only as a 15,000-sigma event.
    FLOAT32_MAX_RATE = float(2**20)
    #: Cells drawn per step. Each step costs a dozen numpy calls: at 2**16 cells they were
    #: ~10% of a one-thread bootstrap (5M paths / 30 channels, 200 replicates: 2.3-2.7 s,
    #: 2.24-2.30 s at 2**18; with threads, no change). A power of two, so that every
    #: step but the last uses whole random words: the draws do not depend on it.
    CHUNK = 1 << 18
    # A table entry at or above this flags a bucket straddling a step; the entry minus
    # the flag is the smallest draw the bucket can give.
    _STRADDLES = 128

    def __init__(self, counts: np.ndarray) -> None:
        self.counts = np.asarray(counts, dtype=np.float64)
        # Distinct rates by hashing, then sorted (cheaper than np.unique's sort of every cell).
        codes, uniques = pd.factorize(self.counts)
        order = np.argsort(uniques)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        rates, index = uniques[order], rank[codes]
        self.rates = rates
        if len(rates) > self.MAX_TABLES:
            return
        frequency = np.bincount(index, minlength=len(rates))
        eligible = np.flatnonzero((rates > 0) & (rates <= self.MAX_TABLE_RATE))
        tabled = eligible[np.argsort(-frequency[eligible], kind="stable")]
        tabled = np.sort(tabled[: self.MAX_GUIDE_TABLES])
        # Table row 0 is the zero rate (every bucket draws 0); row r + 1 is tabled rate r.
        row_of_rate = np.full(len(rates), -1, dtype=np.int64)
        row_of_rate[rates == 0] = 0
        row_of_rate[tabled] = np.arange(1, len(tabled) + 1)
        row = row_of_rate[index]
        self.numpy_cells = np.flatnonzero(row < 0)
        self.numpy_rates = self.counts[self.numpy_cells]
        # Cells drawn from the tables: all of them, or only the non-zero ones when zeros
        # dominate (skipping a zero costs less than drawing it).
        self.cells = np.flatnonzero(row > 0) if np.mean(row > 0) < 0.5 else None
        if self.cells is not None:
            row = row[self.cells]
        self.row_offset = np.where(row < 0, 0, row) << self.GUIDE_BITS
        cdfs = [
            pdtr(np.arange(int(rate + 12 * np.sqrt(rate) + 25)), rate) for rate in rates[tabled]
        ]
        self.table = np.concatenate(
            [np.zeros(1 << self.GUIDE_BITS, dtype=np.uint8), *map(self._guide, cdfs)]
        )
        # The CDFs end to end, each closed by 2.0 so that resolving a step stops there.
        self.cdf = np.concatenate([[2.0], *[np.append(cdf, 2.0) for cdf in cdfs]])
        lengths = np.array([1, *[len(cdf) + 1 for cdf in cdfs]])
        self.cdf_offset = np.concatenate([[0], np.cumsum(lengths)[:-1]])

    def _guide(self, cdf: np.ndarray) -> np.ndarray:
        """The rate's table: bucket g's draw, or the flag plus its smallest draw.

        Bucket g is [g, g + 1) / 2**GUIDE_BITS. Its smallest draw counts the CDF values
        at most g (scaled), i.e. those whose ceiling is at most g; its largest counts the
        values below g + 1, i.e. those whose floor is at most g.
        """
        buckets = 1 << self.GUIDE_BITS
        scaled = cdf * buckets  # exact: a power of two

        def at_most(bucket: np.ndarray) -> np.ndarray:
            index = np.minimum(bucket, buckets).astype(np.int64)
            return np.cumsum(np.bincount(index, minlength=buckets + 1))[:buckets]

        low, high = at_most(np.ceil(scaled)), at_most(np.floor(scaled))
        table = np.where(low == high, low, low + self._STRADDLES)
        if low.max() >= self._STRADDLES or table.max() > np.iinfo(np.uint8).max:
            raise AssertionError("Poisson guide table overflow: lower MAX_TABLE_RATE")
        return table.astype(np.uint8)

    def draw(
        self, rng: np.random.Generator, size: int, dtype: type[np.floating] = np.float64
    ) -> np.ndarray:
        """``size`` replicates from ``rng`` (one block, see `fill`), shape (size, n_counts).

        The array is the transposed view of a record-major ``(n_counts, size)`` array.
        """
        out = np.empty((len(self.counts), size), dtype=dtype)
        self.fill(rng, out)
        return out.T

    def fill(self, rng: np.random.Generator, out: np.ndarray) -> None:
        """Fill ``out``, shape ``(n_counts, lanes)``: column ``k`` is one replicate.

        Cells are drawn from ``rng`` in record-major order (every lane of record 0, then
        of record 1, ...), the layout in which the bootstrap's products read them, so the
        draws are written where they are read, with no transposition. ``out`` may be a
        view (columns of a wider batch). The draws are the same whatever ``out``'s dtype:
        ``float32`` holds every draw exactly only while draws stay below 2**24, so
        callers choose it only for rates up to `FLOAT32_MAX_RATE`.
        """
        n, lanes = out.shape
        if len(self.rates) > self.MAX_TABLES:
            out[...] = rng.poisson(self.counts[:, None], size=(n, lanes))
            return
        sparse = self.cells is not None
        if sparse:
            out[...] = 0
        n_drawn = len(self.cells) if sparse else n
        per_word = 64 // self.GUIDE_BITS  # buckets per 64-bit random word
        step = max(1, self.CHUNK // lanes)  # records per chunk
        # Straddling buckets (a few per chunk) are resolved together at the end: one
        # call instead of one per chunk, which kept threads waiting on the GIL.
        where, straddling = [], []
        for lo in range(0, n_drawn, step):
            hi = min(n_drawn, lo + step)
            size = (hi - lo) * lanes
            words = rng.bit_generator.random_raw(-(-size // per_word))
            bucket = words.view(np.uint16)[:size].reshape(hi - lo, lanes)
            cell = self.row_offset[lo:hi, None] + bucket
            entry = self.table.take(cell)
            out[self.cells[lo:hi] if sparse else slice(lo, hi)] = entry
            flags = entry >= self._STRADDLES
            straddles = np.flatnonzero(flags)
            where.append(straddles + lo * lanes)
            straddling.append(cell.ravel()[straddles])
        if where:
            record, lane = np.divmod(np.concatenate(where), lanes)
            cell = np.concatenate(straddling)
            out[self.cells[record] if sparse else record, lane] = self._resolve(
                rng, cell, self.table[cell]
            )
        if len(self.numpy_cells):
            out[self.numpy_cells] = rng.poisson(
                self.numpy_rates[:, None], size=(len(self.numpy_cells), lanes)
            )

    def _resolve(self, rng: np.random.Generator, cell: np.ndarray, entry: np.ndarray) -> np.ndarray:
        """Exact draws for cells whose bucket straddles a CDF step: walk the CDF up.

        The uniform is drawn afresh within the bucket, so it is uniform on [0, 1) overall.
        """
        buckets = 1 << self.GUIDE_BITS
        uniform = ((cell & (buckets - 1)) + rng.random(len(cell))) / buckets
        start = self.cdf_offset[cell >> self.GUIDE_BITS]
        position = start + (entry - self._STRADDLES)
        while True:
            step = self.cdf[position] <= uniform
            if not step.any():
                return (position - start).astype(np.float64)
            position += step


def replicate_streams(seed: int | None, n_blocks: int) -> list[np.random.Generator]:
    """One random stream per block of bootstrap replicates, from ``seed``.

    Streams are independent children of the seed (spawn key 2; key 1 is Shapley's
    permutations), so a block's draws depend on the seed, its index and its lanes
    (`replicate_lanes`) only: not on batch sizes, threads or the order batches finish in.
    """
    root = np.random.SeedSequence(seed, spawn_key=(2,))
    return [np.random.default_rng(child) for child in root.spawn(n_blocks)]


def replicate_lanes(n_records: int, dtype: type[np.floating]) -> int:
    """Bootstrap replicates drawn together from one random stream (a block).

    `MAX_REPLICATE_LANES`, or the largest power of two whose block of draws stays within
    `REPLICATE_BLOCK_BYTES`. A function of the data and the model only (never of threads or
    batch budgets), so the same seed gives the same replicates on every machine.
    """
    fits = REPLICATE_BLOCK_BYTES // (max(1, n_records) * np.dtype(dtype).itemsize)
    return max(1, min(MAX_REPLICATE_LANES, 1 << max(0, int(fits).bit_length() - 1)))


def bootstrap_workers(n_jobs: int | None) -> int:
    """Threads for bootstrap replicates: ``n_jobs``, or every CPU the process may use."""
    if n_jobs is not None:
        return n_jobs
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no affinity masks
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def _replicate_pool(workers: int) -> Iterator[Any]:
    """An executor with ``map``: threads when ``workers > 1``, else the calling thread."""
    if workers <= 1:
        yield types.SimpleNamespace(map=map)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="causality-bootstrap") as pool:
        yield pool


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
