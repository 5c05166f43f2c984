"""The Markov bootstrap's batched transition counts are exact.

Replicate transition counts come from one float32 sparse product per batch, kept only
while every count is below 2**24. That may not change a number: counts equal
per-replicate float64 products, and bootstrap replicates equal the credit of the same
Poisson weights drawn all at once, whatever the batch size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import causality as ca
from causality.journeys import Journeys
from causality.models import base
from causality.models.base import PoissonSampler
from causality.models.markov.states import chain_structure


def random_paths(seed: int, n: int = 400, channels: int = 5) -> Journeys:
    rng = np.random.default_rng(seed)
    names = [f"c{k}" for k in range(channels)]
    paths = [" > ".join(rng.choice(names, size=int(rng.integers(1, 7)))) for _ in range(n)]
    table = pd.DataFrame(
        {
            "path": paths,
            "conversions": rng.poisson(0.6, n),
            "value": rng.uniform(0, 50, n).round(2),
            "nulls": rng.poisson(1.5, n),
        }
    )
    table = table[(table["conversions"] + table["nulls"]) > 0]
    table.loc[table["conversions"] == 0, "value"] = 0.0
    return Journeys.from_paths(table).by_path()


def per_replicate(structure, weights: np.ndarray) -> np.ndarray:
    """The reference: one float64 product per replicate."""
    return np.stack([structure.incidence.T @ row for row in weights])


def test_batched_counts_equal_per_replicate_products():
    data = random_paths(1)
    converting = np.flatnonzero(data.conversions > 0)
    for order in (1, 2, 3):
        structure = chain_structure(data, order)
        rng = np.random.default_rng(order)
        conv = rng.poisson(data.conversions, size=(7, data.n_records)).astype(np.float64)
        nulls = rng.poisson(data.nulls, size=(7, data.n_records)).astype(np.float64)
        expected = per_replicate(structure, conv + nulls)
        for exact_small in (True, False):
            counts = structure._replicate_counts(
                conv[:, converting], nulls, converting, exact_small=exact_small
            )
            assert counts.dtype == np.float64
            np.testing.assert_array_equal(counts, expected)
        # Conversions of every record or of the converting ones only: the same counts.
        full = structure.transition_counts(conv, nulls, converting)
        compact = structure.transition_counts(conv[:, converting], nulls, converting)
        for a, b in zip(full, compact, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(
            full[1].sum(axis=1), conv.sum(axis=1)
        )  # every conversion ends somewhere


def test_counts_past_float32_integers_are_summed_in_float64():
    data = random_paths(2, n=60)
    structure = chain_structure(data, 1)
    # 2**24 + 1 is not a float32: summed in float32 it would round to 2**24.
    nulls = np.zeros((2, data.n_records))
    nulls[:, 0] = 2**24
    conv = np.zeros_like(nulls)
    conv[:, 0] = 1.0
    counts = structure._replicate_counts(conv[:, [0]], nulls, np.array([0]), exact_small=True)
    np.testing.assert_array_equal(counts, per_replicate(structure, conv + nulls))
    assert counts.max() == 2**24 + 1


def test_conversions_per_end_state_past_float32_integers_are_summed_in_float64():
    data = random_paths(6, n=200)
    structure = chain_structure(data, 1)
    # Three records ending in one state, each 2**23 + 1 conversions (a float32 each):
    # their sum, 3 * 2**23 + 3, is odd and above 2**24, so float32 would round it.
    same_end = np.flatnonzero(structure.last_state == np.bincount(structure.last_state).argmax())
    converting = same_end[:3]
    conversions = np.full((2, 3), 2**23 + 1, dtype=np.float32)
    nulls = np.zeros((2, data.n_records), dtype=np.float32)
    _, to_conversion, _ = structure.transition_counts(conversions, nulls, converting)
    assert to_conversion.dtype == np.float64
    assert to_conversion[:, structure.last_state[converting[0]]].tolist() == [3 * 2**23 + 3] * 2


def _replicates_drawn_at_once(model, data: Journeys, n: int):
    """The model's credit of its n Poisson replicates, drawn in float64, in one batch.

    Block by block from the blocks' streams, as the bootstrap draws them; conversions only
    for the records the model asks for, then spread over every record for `_credit`.
    """
    lanes = base.replicate_lanes(data.n_records, model._replicate_dtype(data))
    streams = base.replicate_streams(model.seed, -(-n // lanes))
    records = model._replicate_conversion_records(data)
    records = np.arange(data.n_records) if records is None else records
    conv_sampler = PoissonSampler(data.conversions[records])
    null_sampler = PoissonSampler(data.nulls)
    conv_parts, null_parts = [], []
    for block, stream in enumerate(streams):
        size = min(lanes, n - block * lanes)
        conv_parts.append(conv_sampler.draw(stream, size))
        null_parts.append(null_sampler.draw(stream, size))
    conv_w = np.zeros((n, data.n_records))
    conv_w[:, records] = np.vstack(conv_parts)
    null_w = np.vstack(null_parts)
    per_conversion = np.divide(
        data.value, data.conversions, out=np.zeros_like(data.value), where=data.conversions > 0
    )
    return model._credit(data, conv_w, conv_w * per_conversion, null_w)


@pytest.mark.parametrize("lanes", [2, 16])
def test_bootstrap_replicates_do_not_depend_on_the_batch_size(lanes, monkeypatch):
    data = random_paths(3)
    model = ca.models.Markov(n_bootstrap=37, seed=5, n_jobs=1)
    # Markov draws replicates in float32, for the converting records only.
    assert model._replicate_dtype(data) is np.float32
    assert len(model._replicate_conversion_records(data)) < data.n_records
    monkeypatch.setattr(base, "REPLICATE_BLOCK_BYTES", data.n_records * 4 * lanes)
    assert base.replicate_lanes(data.n_records, np.float32) == lanes
    # One block per batch (several products), against all drawn in float64 at once.
    monkeypatch.setattr(base, "BOOTSTRAP_BATCH_CELLS", 1)
    conv_reps, value_reps = model._bootstrap(data)
    conv, value = _replicates_drawn_at_once(model, data, 37)
    np.testing.assert_array_equal(conv_reps, conv)
    # Value totals are one dot product over converting records instead of a sum over
    # every record: the same terms, summed in another order.
    np.testing.assert_allclose(value_reps, value, rtol=1e-12)
    # Several blocks in one batch: the same replicates.
    monkeypatch.setattr(base, "BOOTSTRAP_BATCH_CELLS", 10**9)
    np.testing.assert_array_equal(model._bootstrap(data)[0], conv_reps)


def test_counts_too_large_for_float32_draws_are_drawn_in_float64():
    data = random_paths(4)
    big = Journeys(
        channels=data.channels,
        codes=data.codes,
        offsets=data.offsets,
        conversions=data.conversions,
        value=data.value,
        nulls=np.where(np.arange(data.n_records) == 0, 2.0**21, data.nulls),
    )
    model = ca.models.Markov(n_bootstrap=6, seed=2)
    assert model._replicate_dtype(data) is np.float32
    assert model._replicate_dtype(big) is np.float64
    assert ca.models.Markov(allocation="journey")._replicate_dtype(data) is np.float64
    conv_reps, value_reps = model._bootstrap(big)
    conv, value = _replicates_drawn_at_once(model, big, 6)
    np.testing.assert_array_equal(conv_reps, conv)
    np.testing.assert_allclose(value_reps, value, rtol=1e-12)


def test_float32_draws_are_the_float64_draws():
    counts = np.array([0.0, 1.0, 1.0, 3.0, 0.5, 64.0, 65.0, 2e4, 1.0, 0.0])
    wide = PoissonSampler(counts).draw(np.random.default_rng(8), 50)
    narrow = PoissonSampler(counts).draw(np.random.default_rng(8), 50, dtype=np.float32)
    assert narrow.dtype == np.float32
    np.testing.assert_array_equal(narrow, wide)


def test_point_counts_summed_in_blocks_equal_one_sum(monkeypatch):
    from causality.models.markov import states

    data = random_paths(5)
    structure = chain_structure(data, 2)
    weights = data.conversions + data.nulls
    lengths = np.diff(structure.offsets)
    expected = np.bincount(
        structure.touch_edge, np.repeat(weights, lengths), minlength=len(structure.edge_from)
    )
    for block in (1, 3, 64, 1 << 19):  # blocks shorter and longer than a record
        monkeypatch.setattr(states, "_STEP_BLOCK", block)
        edges, _, _ = structure.transition_counts(data.conversions[None], data.nulls[None])
        np.testing.assert_array_equal(edges[0], expected)
