"""The fast paths of the Markov model against plain references.

Chain structures are compared with a touch-by-touch Python walk of each path, the
bootstrap's sparse product with one weighted count per replicate, and the Poisson
sampler's draws with the Poisson distribution itself.
"""

import itertools
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import causality as ca
from causality.models.base import PoissonSampler
from causality.models.markov import Markov
from causality.models.markov import states as states_module
from causality.models.markov.states import START, chain_structure


def random_table(seed, n_paths=300, n_channels=4, max_len=7):
    rng = np.random.default_rng(seed)
    names = [f"ch {k}" for k in range(n_channels)]
    rows = []
    for _ in range(n_paths):
        length = rng.integers(1, max_len + 1)
        # Few channels and short paths: plenty of repeats to collapse and shared states.
        path = " > ".join(names[c] for c in rng.integers(0, n_channels, length))
        rows.append((path, int(rng.integers(0, 3)), int(rng.integers(0, 4))))
    return pd.DataFrame(rows, columns=["path", "conversions", "nulls"])


def walked_transitions(journeys, order, collapse):
    """Transition counts and last states by walking every path in Python (the reference)."""
    transitions, last = Counter(), []
    channels = journeys.channels
    for record in range(journeys.n_records):
        lo, hi = journeys.offsets[record], journeys.offsets[record + 1]
        path = [channels[c] for c in journeys.codes[lo:hi]]
        weight = journeys.conversions[record] + journeys.nulls[record]
        visited = [tuple(path[max(0, t - order + 1) : t + 1]) for t in range(len(path))]
        if collapse:
            visited = [s for k, s in enumerate(visited) if k == 0 or s != visited[k - 1]]
        for before, after in zip([(START,), *visited], visited, strict=False):
            transitions[before, after] += weight
        last.append(visited[-1])
    return transitions, last


def structure_transitions(journeys, order, collapse):
    structure = chain_structure(journeys, order, collapse=collapse)
    channels = np.asarray(journeys.channels, dtype=object)
    states = [
        (START,) if k == structure.start else tuple(channels[c] for c in row[::-1] if c >= 0)
        for k, row in enumerate(structure.state_channels)
    ]
    edges, _, _ = structure.transition_counts(journeys.conversions[None], journeys.nulls[None])
    transitions = Counter()
    for source, target, count in zip(structure.edge_from, structure.edge_to, edges[0], strict=True):
        transitions[states[source], states[target]] += count
    return structure, transitions, [states[s] for s in structure.last_state]


@pytest.mark.parametrize(
    ("order", "collapse", "edges"),
    itertools.product([1, 2, 3, 4], [True, False], ["by key", "by state"]),
)
def test_chain_structure_matches_walking_every_path(order, collapse, edges, monkeypatch):
    journeys = ca.Journeys.from_paths(random_table(order))
    monkeypatch.setattr(states_module, "_GATHER_CHUNK", 7)  # many chunks, a short last one
    if edges == "by state":  # as for larger key spaces: states numbered first
        monkeypatch.setattr(states_module, "_KEYED_EDGES", 0)
    structure, transitions, last = structure_transitions(journeys, order, collapse)
    expected, expected_last = walked_transitions(journeys, order, collapse)
    assert transitions == expected
    assert last == expected_last
    assert len(set(zip(structure.edge_from, structure.edge_to, strict=True))) == len(
        structure.edge_from
    )


@pytest.mark.parametrize(
    ("order", "n_channels", "dtype"),
    [(2, 180, np.int16), (2, 181, np.int32), (3, 30, np.int16), (3, 31, np.int32)],
)
def test_state_keys_at_the_edges_of_their_integer_types(order, n_channels, dtype):
    # Keys are made in the narrowest type that holds base**order - 1: these tables reach
    # the top of int16 from below, and pass it.
    journeys = ca.Journeys.from_paths(random_table(5, n_paths=600, n_channels=n_channels))
    keys = states_module._state_keys(journeys.codes, journeys.offsets, order, n_channels + 1)
    assert keys.dtype == dtype
    assert keys.max() > np.iinfo(np.int16).max // 2
    for collapse in (True, False):
        _, transitions, last = structure_transitions(journeys, order, collapse)
        assert (transitions, last) == walked_transitions(journeys, order, collapse)


@pytest.mark.parametrize("keyed_edges", [True, False])
def test_hashed_keys_index_like_lookup_tables(keyed_edges, monkeypatch):
    journeys = ca.Journeys.from_paths(random_table(7, n_channels=6))
    if not keyed_edges:
        monkeypatch.setattr(states_module, "_KEYED_EDGES", 0)
    direct = chain_structure(journeys, 3)
    monkeypatch.setattr(states_module, "DIRECT_KEYS", 0)  # every key space hashed
    hashed = chain_structure(journeys, 3)
    for field in ("state_channels", "edge_from", "edge_to", "offsets", "touch_edge", "last_state"):
        np.testing.assert_array_equal(getattr(direct, field), getattr(hashed, field))


@pytest.mark.parametrize("order", [1, 3])
def test_batch_counts_from_the_sparse_product_equal_one_count_per_replicate(order):
    journeys = ca.Journeys.from_paths(random_table(11))
    structure = chain_structure(journeys, order)
    rng = np.random.default_rng(0)
    conversions = rng.poisson(journeys.conversions, (5, journeys.n_records)).astype(float)
    nulls = rng.poisson(journeys.nulls, (5, journeys.n_records)).astype(float)
    converting = np.flatnonzero(journeys.conversions > 0)
    batch = structure.transition_counts(conversions, nulls, converting)
    for b in range(5):
        one = structure.transition_counts(conversions[b : b + 1], nulls[b : b + 1])
        for got, want in zip(batch, one, strict=True):
            np.testing.assert_array_equal(got[b], want[0])


def test_markov_bootstrap_is_reproducible_and_independent_of_batching(monkeypatch):
    table = random_table(5, n_paths=400)
    first = Markov(n_bootstrap=40, seed=3).fit(table).table
    again = Markov(n_bootstrap=40, seed=3).fit(table).table
    pd.testing.assert_frame_equal(first, again)
    monkeypatch.setattr("causality.models.base.BOOTSTRAP_BATCH_CELLS", 1)  # one per batch
    pd.testing.assert_frame_equal(first, Markov(n_bootstrap=40, seed=3).fit(table).table)
    other = Markov(n_bootstrap=40, seed=4).fit(table).table
    assert not np.allclose(first["conversions_lower"], other["conversions_lower"])


def test_repeated_path_rows_give_the_same_estimate_as_merged_rows():
    table = random_table(9, n_paths=200)
    merged = table.groupby("path", as_index=False)[["conversions", "nulls"]].sum()
    split = Markov(n_bootstrap=0).fit(table).table
    whole = Markov(n_bootstrap=0).fit(merged).table
    pd.testing.assert_frame_equal(split, whole, rtol=1e-10)


@pytest.mark.parametrize(
    "rate",
    # Small rates straddle few bucket edges, 64 is the largest tabled rate, 65 and 2e4 go to
    # numpy, 1/3 is not an integer.
    [0.05, 0.5, 1.0, 3.0, 1 / 3, 64.0, 65.0, 2e4],
)
def test_poisson_sampler_draws_follow_the_poisson_distribution(rate):
    # Mixed with zeros and other rates, as in a path table; the column under test is 0.
    counts = np.array([rate, 0.0, 1.0, 2.0, 0.0, 7.0])
    draws = PoissonSampler(counts).draw(np.random.default_rng(1), 40_000)
    assert np.all(draws[:, [1, 4]] == 0) and np.all(draws == np.round(draws))
    x = draws[:, 0].astype(np.int64)
    support = np.arange(x.max() + 1)
    expected = stats.poisson.pmf(support, rate) * len(x)
    observed = np.bincount(x, minlength=len(support))
    # Pool the tails so every bin expects at least 20 draws.
    cut = np.cumsum(expected) >= 20
    low, high = np.argmax(cut), len(expected) - np.argmax(np.cumsum(expected[::-1]) >= 20) - 1
    bins_e = [expected[: low + 1].sum(), *expected[low + 1 : high], expected[high:].sum()]
    bins_o = [observed[: low + 1].sum(), *observed[low + 1 : high], observed[high:].sum()]
    if len(bins_e) > 1:
        statistic = ((np.array(bins_o) - np.array(bins_e)) ** 2 / np.array(bins_e)).sum()
        assert stats.chi2.sf(statistic, len(bins_e) - 1) > 1e-4
    assert abs(x.mean() - rate) < 5 * np.sqrt(rate / len(x))


@pytest.mark.parametrize("zeros", [0, 90])  # every cell drawn, or only the non-zero ones
@pytest.mark.parametrize("lanes", [1, 16])
def test_poisson_sampler_draws_do_not_depend_on_the_chunk_size(zeros, lanes, monkeypatch):
    # Same seed, same draws, whatever the step size (a tuning constant): chunks of 64
    # cells cut a block in many steps, the default in one or few.
    counts = np.concatenate([np.zeros(zeros), np.tile([1.0, 2.0, 0.5, 300.0, 12.0], 400)])
    default = PoissonSampler(counts).draw(np.random.default_rng(3), lanes)
    monkeypatch.setattr(PoissonSampler, "CHUNK", 64)
    small = PoissonSampler(counts).draw(np.random.default_rng(3), lanes)
    np.testing.assert_array_equal(default, small)


@pytest.mark.parametrize("zeros", [0, 90])  # every cell drawn, or only the non-zero ones
def test_poisson_sampler_blocks_fill_columns_of_a_batch_as_drawn_alone(zeros):
    counts = np.concatenate([np.zeros(zeros), np.tile([1.0, 2.0, 0.5, 300.0, 12.0], 20)])
    sampler = PoissonSampler(counts)
    assert (sampler.cells is not None) == (zeros > 50)
    alone = [sampler.draw(np.random.default_rng(seed), size) for seed, size in [(5, 2), (6, 3)]]
    batch = np.full((len(counts), 7), -1.0)
    sampler.fill(np.random.default_rng(5), batch[:, 1:3])
    sampler.fill(np.random.default_rng(6), batch[:, 3:6])
    np.testing.assert_array_equal(batch[:, 1:6].T, np.vstack(alone))
    assert (batch[:, [0, 6]] == -1).all()  # nothing written outside the block
    # Lanes are replicates: independent draws, not copies of one another.
    assert not np.array_equal(alone[1][0], alone[1][1])


def test_poisson_guide_tables_resolve_straddling_buckets_exactly():
    # With 2 buckets instead of 65,536 almost every draw straddles a step of the CDF and is
    # resolved by the exact walk, which must still give Poisson draws.
    sampler = PoissonSampler(np.full(10, 1.0))
    sampler.table = np.concatenate(
        [np.zeros(1 << 16, dtype=np.uint8), np.full(1 << 16, 128, dtype=np.uint8)]
    )
    draws = sampler.draw(np.random.default_rng(2), 20_000).ravel().astype(np.int64)
    observed = np.bincount(draws, minlength=6)[:6]
    expected = stats.poisson.pmf(np.arange(6), 1.0) * len(draws)
    np.testing.assert_allclose(observed, expected, rtol=0.05, atol=40)
