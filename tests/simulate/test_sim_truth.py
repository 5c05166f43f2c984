import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causality.errors import CausalityWarning
from causality.simulate import CHANNELS, simulate
from causality.simulate.config import Config
from causality.simulate.params import resolve_params
from causality.simulate.rng import keyed_normal
from causality.simulate.world import MAX_HAZARD, World

TRUTH_COLUMNS = [
    "incremental_conversions",
    "incremental_value",
    "direct_conversions",
    "direct_value",
    "shapley_conversions",
    "shapley_value",
    "expected_incremental_conversions",
    "expected_direct_conversions",
    "expected_shapley_conversions",
]
PLACEBO = "Display Retargeting"


def test_truth_table_shape(confounded):
    truth = confounded.truth
    assert list(truth.columns) == TRUTH_COLUMNS
    assert truth.index.name == "channel" and list(truth.index) == list(CHANNELS)
    assert truth["incremental_conversions"].dtype == np.int64
    assert truth["direct_conversions"].dtype == np.int64


def test_conversion_rates_are_realistic(confounded):
    n_users = confounded.params["n_users"]
    assert 0.01 < confounded.baseline_conversions / n_users < 0.04
    assert 0.02 < confounded.total_conversions / n_users < 0.08
    assert confounded.total_conversions > confounded.baseline_conversions


def test_without_channels_conversions_match_the_baseline_hazard():
    n_users, n_days, seed = 30_000, 60, 9
    sim = simulate("confounded", n_users=n_users, n_days=n_days, seed=seed, exposure=0.0)
    assert (sim.events["event_type"] != "touch").all()
    assert sim.total_conversions == sim.baseline_conversions
    assert (sim.truth.abs().to_numpy() == 0).all()
    # Expectation from the hazard and the users' own intents...
    base, sd = sim.params["base_hazard"], sim.params["intent_sd"]
    hazard = base * np.exp(sd * keyed_normal(seed, "intent", np.arange(n_users)) - sd**2 / 2)
    p = 1 - (1 - hazard) ** n_days
    assert sim.expected_baseline_conversions == pytest.approx(p.sum(), rel=1e-5)
    assert abs(sim.total_conversions - p.sum()) < 4 * np.sqrt((p * (1 - p)).sum())
    # ...and from the intent distribution alone (Gauss-Hermite quadrature over z).
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)
    h = np.minimum(base * np.exp(sd * nodes - sd**2 / 2), MAX_HAZARD)
    rate = (weights * (1 - (1 - h) ** n_days)).sum() / weights.sum()
    assert abs(sim.total_conversions - n_users * rate) < 4 * np.sqrt(n_users * rate * (1 - rate))


def test_zero_lift_channel_has_exactly_zero_effect(confounded):
    placebo = confounded.truth.loc[PLACEBO]
    for col in TRUTH_COLUMNS:
        if col.startswith("shapley") or col == "expected_shapley_conversions":
            assert abs(placebo[col]) < 1e-6, col
        else:
            assert placebo[col] == 0, col
    # ...while it is one of the most heavily targeted channels.
    touches = confounded.events.loc[confounded.events["event_type"] == "touch", "channel"]
    assert touches.value_counts()[PLACEBO] > touches.value_counts().median()


def test_overridden_zero_lift_is_exactly_zero():
    sim = simulate("saturation", n_users=4_000, n_days=30, seed=1, lift={"Email": 0.0})
    assert sim.truth.loc["Email", "incremental_conversions"] == 0
    assert sim.truth.loc["Email", "expected_incremental_conversions"] == 0
    assert sim.truth.loc["Paid Search Generic", "incremental_conversions"] > 0


def test_zero_lift_mediator_has_zero_direct_but_positive_total_effect():
    sim = simulate("mediated", n_users=15_000, n_days=50, seed=2, lift={"Online Video": 0.0})
    video = sim.truth.loc["Online Video"]
    assert video["direct_conversions"] == 0 and video["expected_direct_conversions"] == 0
    assert video["incremental_conversions"] > 0
    assert video["expected_incremental_conversions"] > 2


def test_total_equals_direct_without_mediation_and_exceeds_it_with(confounded, mediated):
    t = confounded.truth
    assert (t["incremental_conversions"] == t["direct_conversions"]).all()
    assert (t["expected_incremental_conversions"] == t["expected_direct_conversions"]).all()
    m = mediated.truth
    assert (
        m.loc["Online Video", "expected_incremental_conversions"]
        > 1.3 * m.loc["Online Video", "expected_direct_conversions"]
    )
    not_mediators = ["Email", "Affiliates", "Paid Search Brand", PLACEBO]
    assert (
        m.loc[not_mediators, "incremental_conversions"]
        == m.loc[not_mediators, "direct_conversions"]
    ).all()


def test_removing_a_channel_leaves_exposures_it_does_not_mediate_unchanged():
    cfg = Config.from_params(resolve_params("mediated", 3_000, 30, 4, {}))
    world = World(cfg, np.arange(3_000))
    everyone = np.arange(world.n)
    for c in range(cfg.n_channels):
        allowed = np.ones(cfg.n_channels, dtype=bool)
        allowed[c] = False
        _, fresh = world.world(everyone, allowed)
        for d, exposed in fresh.items():
            factual = world.factual[:, :, d]
            assert not (exposed & ~factual).any()  # exposures only ever disappear
            if not cfg.ancestors[d] >> c & 1:
                np.testing.assert_array_equal(exposed, factual)
        changed = [d for d, x in fresh.items() if (x != world.factual[:, :, d]).any()]
        assert all(cfg.ancestors[d] >> c & 1 for d in changed)


def test_switching_a_channel_off_leaves_other_touches_in_the_log_unchanged():
    kw = {"n_users": 3_000, "n_days": 30, "seed": 6, "anonymous_share": 0.0}
    on = simulate("mediated", **kw).events
    off = simulate("mediated", exposure={"Online Video": 0.0}, **kw).events
    key = ["user_id", "timestamp", "channel"]

    def touches(ev, channels):
        rows = ev[ev["channel"].isin(channels)]
        return set(map(tuple, rows[key].astype(str).to_numpy()))

    independent = ["Email", "Display", "Paid Social", "Affiliates", "Organic Social", PLACEBO]
    assert touches(on, independent) == touches(off, independent)
    mediated = ["Paid Search Brand", "Paid Search Generic", "Direct"]
    assert touches(off, mediated) < touches(on, mediated)  # a strict subset
    assert not touches(off, ["Online Video"])


def test_effects_are_additive_without_interactions():
    # Clean world, halved lifts: the hazard is additive and the window probability nearly
    # so; the stated tolerance is 2% of the total effect (second-order terms; measured 0.3%).
    lifts = {c: v / 2 for c, v in resolve_params("clean", 1, 1, 0, {})["lift"].items()}
    sim = simulate("clean", n_users=40_000, n_days=40, seed=8, lift=lifts)
    effect = sim.expected_total_conversions - sim.expected_baseline_conversions
    summed = sim.truth["expected_incremental_conversions"].sum()
    assert effect > 40
    assert summed == pytest.approx(effect, rel=0.02)
    realised = sim.total_conversions - sim.baseline_conversions
    assert abs(sim.truth["incremental_conversions"].sum() - realised) <= max(5, 0.05 * realised)


def test_interactions_make_effects_non_additive():
    sim = simulate("saturation", n_users=10_000, n_days=40, seed=8)
    effect = sim.expected_total_conversions - sim.expected_baseline_conversions
    assert sim.truth["expected_incremental_conversions"].sum() < 0.95 * effect


def _assert_efficient(sim):
    truth = sim.truth
    assert truth["shapley_conversions"].sum() == pytest.approx(
        sim.total_conversions - sim.baseline_conversions, abs=1e-6
    )
    assert truth["expected_shapley_conversions"].sum() == pytest.approx(
        sim.expected_total_conversions - sim.expected_baseline_conversions, abs=1e-6
    )
    assert truth["shapley_value"].sum() == pytest.approx(
        sim.total_value - sim.baseline_value, rel=1e-9, abs=1e-6
    )


def test_shapley_is_efficient_in_the_fixtures(confounded, mediated):
    _assert_efficient(confounded)
    _assert_efficient(mediated)


def test_shapley_of_a_single_channel_is_its_total_effect():
    sim = simulate("mediated", n_users=2_000, n_days=20, seed=3, channels=["Email"])
    row = sim.truth.loc["Email"]
    assert row["shapley_conversions"] == pytest.approx(row["incremental_conversions"])
    assert row["incremental_conversions"] == sim.total_conversions - sim.baseline_conversions


def test_expected_truth_tracks_realised_truth(confounded):
    t = confounded.truth
    noise = np.sqrt(confounded.total_conversions)
    assert abs(confounded.expected_total_conversions - confounded.total_conversions) < 4 * noise
    gap = t["incremental_conversions"].sum() - t["expected_incremental_conversions"].sum()
    assert abs(gap) < 4 * noise


@st.composite
def small_worlds(draw):
    channels = draw(st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=5, unique=True))
    values = st.floats(0.0, 1.0)
    per = {
        key: {
            c: draw(st.sampled_from([0.0, scale]) | values.map(lambda v, s=scale: v * s))
            for c in channels
        }
        for key, scale in (("lift", 10.0), ("decay", 0.95), ("saturation", 3.0))
    }
    mediation: dict[str, dict[str, float]] = {}
    synergy: dict[str, dict[str, float]] = {}
    for i, a in enumerate(channels):
        for b in channels[i + 1 :]:  # edges only forward in the list: acyclic
            if draw(st.booleans()):
                mediation.setdefault(a, {})[b] = draw(st.floats(0.0, 5.0))
            if draw(st.booleans()):
                synergy.setdefault(a, {})[b] = draw(st.floats(-1.0, 5.0))
    return {
        "scenario": draw(st.sampled_from(["clean", "confounded"])),
        "n_users": draw(st.integers(50, 400)),
        "n_days": draw(st.integers(1, 15)),
        "seed": draw(st.integers(0, 2**32)),
        "channels": channels,
        "exposure": {c: draw(st.floats(0.0, 0.2)) for c in channels},
        "mediation": mediation,
        "synergy": synergy,
        "lift_cap": draw(st.none() | st.floats(0.5, 10.0)),
        "base_hazard": draw(st.floats(0.0, 0.05)),
        **per,
    }


@settings(
    max_examples=30,
    deadline=None,
    database=None,  # no .hypothesis folder in the repository
    suppress_health_check=[HealthCheck.too_slow],
)
@given(small_worlds())
def test_shapley_efficiency_and_exact_null_effects_hold_in_random_worlds(kwargs):
    sim = simulate(**kwargs)
    _assert_efficient(sim)
    truth = sim.truth
    paired = {a for a in kwargs["synergy"]} | {b for t in kwargs["synergy"].values() for b in t}
    for c in kwargs["channels"]:
        mediates = any(v > 0 for v in kwargs["mediation"].get(c, {}).values())
        inert = kwargs["lift"][c] == 0 and c not in paired
        if inert:
            assert truth.loc[c, "direct_conversions"] == 0
            assert truth.loc[c, "expected_direct_conversions"] == 0
            if not mediates:
                assert truth.loc[c, "incremental_conversions"] == 0
                assert abs(truth.loc[c, "shapley_conversions"]) < 1e-9
    assert isinstance(truth, pd.DataFrame)


def test_more_channels_than_exact_shapley_allows_warn_and_leave_shapley_nan():
    extra = [f"Partner {i}" for i in range(4)]
    with pytest.warns(CausalityWarning, match="Shapley"):
        sim = simulate(
            "clean",
            n_users=300,
            n_days=5,
            channels=[*CHANNELS, *extra],
            exposure=dict.fromkeys(extra, 0.05),
            lift=dict.fromkeys(extra, 1.0),
        )
    assert sim.truth["shapley_conversions"].isna().all()
    assert sim.truth["incremental_conversions"].notna().all()
