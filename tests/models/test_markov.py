"""The Markov removal-effect model against hand-worked chains and ChannelAttribution."""

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import causality as ca
from causality.errors import ConfigurationError
from causality.models.markov import Markov
from causality.models.markov import chain as chain_module

REFERENCE = Path(__file__).resolve().parents[1] / "reference"


def table(rows):
    return pd.DataFrame(rows, columns=["path", "conversions", "nulls"])


def fit(data, **params):
    params.setdefault("n_bootstrap", 0)
    return Markov(**params).fit(data)


HAND = table([("A > B", 2, 1), ("B", 1, 2), ("A", 0, 3)])
# Transitions: start->A 6, start->B 3; A->B 3, A->null 3; B->conv 3, B->null 3.
# P(conv) = 2/3 * 1/2 * 1/2 + 1/3 * 1/2 = 1/3.
# Without A: only start->B->conv: 1/3 * 1/2 = 1/6, so RE_A = 1 - (1/6)/(1/3) = 1/2.
# Without B: nothing converts, RE_B = 1. Credit of 3 conversions: A 3 * 0.5/1.5 = 1, B 2.


def test_hand_worked_chain_gives_exact_removal_effects_and_credit():
    result = fit(HAND)
    effects = result.extras["removal_effects"]["removal_effect"]
    assert effects.to_dict() == pytest.approx({"A": 0.5, "B": 1.0})
    assert result.table["conversions"].to_dict() == pytest.approx({"A": 1.0, "B": 2.0})


def test_journey_allocation_splits_each_path_by_removal_effects():
    # "A > B" (2 conversions) splits 0.5 : 1 -> A 2/3, B 4/3; "B" (1) goes to B.
    result = fit(HAND, allocation="journey")
    assert result.table["conversions"].to_dict() == pytest.approx({"A": 2 / 3, "B": 7 / 3})


def test_transition_matrix_rows_are_probabilities():
    frame = fit(HAND).extras["transition_matrix"]
    sums = frame.groupby("from")["probability"].sum()
    np.testing.assert_allclose(sums, 1.0)
    row = frame[(frame["from"] == "A") & (frame["to"] == "B")]
    assert row["probability"].item() == pytest.approx(0.5) and row["count"].item() == 3


def test_collapse_repeats_drops_self_transitions_without_changing_credit():
    data = table([("A > A > B", 1, 1), ("B > A", 1, 1), ("A > A > A > B", 2, 1)])
    collapsed = Markov(n_bootstrap=0).transition_matrix(data)
    assert not (collapsed["from"] == collapsed["to"]).any()
    kept = Markov(n_bootstrap=0, collapse_repeats=False).transition_matrix(data)
    assert ((kept["from"] == "A") & (kept["to"] == "A")).any()
    for order in (1, 2):
        pd.testing.assert_series_equal(
            fit(data, order=order).table["conversions"],
            fit(data, order=order, collapse_repeats=False).table["conversions"],
        )


def test_order_two_states_keep_repeated_channels_as_history():
    # A > A > B visits (A), (A, A), (A, B): the pair (A, A) is a state of its own.
    frame = Markov(order=2, n_bootstrap=0).transition_matrix(table([("A > A > B", 1, 0)]))
    assert set(frame["from"]) == {"(start)", "A", "A, A", "A, B"}


def test_paths_without_nulls_single_states_and_non_converting_channels_work():
    data = table([("A", 3, 0), ("B > A", 2, 0), ("C", 0, 4)])
    result = fit(data)
    assert result.table.loc["C", "conversions"] == 0.0
    assert result.table["conversions"].sum() == pytest.approx(5.0)
    # Every conversion passes through A: removing it loses everything.
    assert result.extras["removal_effects"].loc["A", "removal_effect"] == pytest.approx(1.0)


def test_channel_names_with_spaces_and_separators_work():
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u2"],
            "timestamp": pd.to_datetime(
                ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-01", "2024-01-02"]
            ),
            "event_type": ["touch", "touch", "conversion", "touch", "touch"],
            "channel": ["Paid > Search", "e mail", None, "e mail", "Paid > Search"],
        }
    )
    result = ca.attribute(ca.Journeys.from_events(events), "markov", n_bootstrap=0)
    assert set(result.table.index) == {"Paid > Search", "e mail"}
    assert result.table["conversions"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("order", [0, 5, 1.5, True])
def test_order_must_be_one_to_four(order):
    with pytest.raises(ConfigurationError, match="order"):
        Markov(order=order)


def test_bad_allocation_is_refused():
    with pytest.raises(ConfigurationError, match="allocation"):
        Markov(allocation="per_path")


def test_higher_order_states_remember_the_previous_channel():
    # After A, B converts; after C, B never does. Order 1 cannot tell, order 2 can.
    data = table([("A > B", 10, 0), ("C > B", 0, 10)])
    first = fit(data, order=1).extras["removal_effects"]["removal_effect"]
    second = fit(data, order=2).extras["removal_effects"]["removal_effect"]
    assert second["C"] == pytest.approx(0.0)
    assert first["C"] > 0.0  # order 1 mixes the two B's and credits C
    assert second["A"] == pytest.approx(1.0) and second["B"] == pytest.approx(1.0)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_credit_matches_channelattribution_simulation_limit_on_data_csv(data_csv, order):
    reference = pd.read_csv(REFERENCE / "channelattribution_markov.csv")
    reference = reference[reference["order"] == order]
    journeys = ca.Journeys.from_paths(
        data_csv,
        conversions="total_conversions",
        value="total_conversion_value",
        nulls="total_null",
    )
    ours = fit(journeys, order=order).table["conversions"]
    runs = reference[reference["nsim"] == 1_000_000].pivot(
        index="channel_name", columns="seed", values="total_conversions"
    )
    spread = (runs.max(axis=1) - runs.min(axis=1)).reindex(ours.index)
    limit = reference[reference["nsim"] == 10_000_000].set_index("channel_name")[
        "total_conversions"
    ]
    # ChannelAttribution simulates; at 1e7 paths it sits within its own seed-to-seed
    # spread at 1e6 (or 0.5% of total credit when seeds happen to agree) of the exact value.
    tolerance = np.maximum(spread, 0.005 * ours.sum() / len(ours))
    gap = (ours - limit.reindex(ours.index)).abs()
    assert (gap <= tolerance).all(), pd.DataFrame({"ours": ours, "ca": limit, "tol": tolerance})


def test_preconditioned_bootstrap_solves_equal_direct_solves(monkeypatch):
    data = table(
        [
            ("A > B > C", 30, 50),
            ("B > C", 20, 60),
            ("C > A", 5, 40),
            ("A", 8, 30),
            ("B > A > C", 12, 25),
        ]
    )
    journeys = ca.Journeys.from_paths(data)
    dense = Markov(order=2, n_bootstrap=40).fit(journeys).table
    monkeypatch.setattr(chain_module, "DENSE_STATES", 0)
    iterative = Markov(order=2, n_bootstrap=40).fit(ca.Journeys.from_paths(data)).table
    pd.testing.assert_frame_equal(dense, iterative, rtol=1e-8)


def test_masked_iteration_bootstrap_equals_preconditioned_gmres(monkeypatch):
    data = table([("A > B > C", 30, 50), ("B > C", 20, 60), ("C > A > B", 5, 40), ("A", 8, 30)])
    monkeypatch.setattr(chain_module, "DENSE_STATES", 0)
    gmres = Markov(order=2, n_bootstrap=30).fit(ca.Journeys.from_paths(data)).table
    monkeypatch.setattr(chain_module, "DENSE_INVERSE_STATES", 0)
    monkeypatch.setattr(chain_module, "MASKED_BATCH_CELLS", 50)  # several chunks
    masked = Markov(order=2, n_bootstrap=30).fit(ca.Journeys.from_paths(data)).table
    pd.testing.assert_frame_equal(gmres, masked, rtol=1e-8)


def test_unconverged_iterations_fall_back_to_direct_solves(monkeypatch):
    data = table([("A > B > C", 30, 50), ("B > C > B", 20, 60), ("C > A", 5, 40), ("A", 8, 30)])
    dense = Markov(order=2, n_bootstrap=0).fit(ca.Journeys.from_paths(data)).table
    monkeypatch.setattr(chain_module, "DENSE_STATES", 0)
    cut_short = functools.partial(chain_module.absorption_by_iteration, max_steps=1)
    monkeypatch.setattr(chain_module, "absorption_by_iteration", cut_short)
    direct = Markov(order=2, n_bootstrap=0).fit(ca.Journeys.from_paths(data)).table
    pd.testing.assert_frame_equal(dense, direct, rtol=1e-10)


def test_batched_gmres_solves_random_well_conditioned_systems():
    rng = np.random.default_rng(0)
    n, batch = 30, 5
    base = np.eye(n) - 0.5 * rng.random((n, n)) / n
    perturbed = base[None] + 0.02 * rng.random((batch, n, n)) / n
    rhs = rng.random((batch, n))
    inverse = np.linalg.inv(base)
    x, converged = chain_module.batched_gmres(
        lambda v: np.einsum("bij,bj->bi", perturbed, v), lambda v: v @ inverse.T, rhs
    )
    assert converged.all()
    np.testing.assert_allclose(x, np.linalg.solve(perturbed, rhs[:, :, None])[:, :, 0], rtol=1e-9)


def test_choose_order_finds_history_dependence():
    from causality.models.markov import choose_order

    # B converts after A and never after C: only a chain of order >= 2 can tell.
    data = table([("A > B", 300, 100), ("C > B", 100, 300), ("A", 50, 150), ("C", 50, 150)])
    selection = choose_order(data, max_order=3)
    assert selection.best_order == 2
    assert selection.table.loc[2, "log_loss"] < selection.table.loc[1, "log_loss"]
    assert selection.table.loc[2, "auc"] > selection.table.loc[1, "auc"]


def test_choose_order_prefers_order_one_when_history_carries_no_signal(data_csv):
    from causality.models.markov import choose_order

    journeys = ca.Journeys.from_paths(
        data_csv, conversions="total_conversions", nulls="total_null", value=None
    )
    selection = choose_order(journeys, max_order=3)
    assert selection.best_order == 1
    assert list(selection.table.index) == [1, 2, 3]
    assert selection.table["n_states"].is_monotonic_increasing


def test_weighted_auc_matches_pairwise_definition():
    from causality.models.markov.order import weighted_auc

    scores = np.array([0.1, 0.4, 0.4, 0.8])
    pos = np.array([0.0, 1.0, 2.0, 1.0])
    neg = np.array([2.0, 1.0, 0.0, 0.0])
    # Pairs (pos, neg) weighted: score 0.4 pos (3) beat 0.1 neg (2): 6; tie with 0.4 neg (1): 1.5;
    # score 0.8 pos (1) beats all 3 negatives: 3. Total (6 + 1.5 + 3) / (4 * 3).
    assert weighted_auc(scores, pos, neg) == pytest.approx(10.5 / 12)


@pytest.mark.parametrize("bad", [{"max_order": 5}, {"max_order": 0}, {"n_folds": 1}])
def test_choose_order_rejects_bad_settings(bad):
    from causality.models.markov import choose_order

    with pytest.raises(ConfigurationError):
        choose_order(HAND, **bad)
