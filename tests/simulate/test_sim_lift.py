import numpy as np
import pandas as pd
import pytest

from causality.errors import ConfigurationError
from causality.simulate import LIFT_TEST_COLUMNS, LiftTest, lift_tests_frame, simulate

PLACEBO = "Display Retargeting"


def test_lift_test_estimate_is_within_three_standard_errors(confounded):
    for seed in range(3):
        test = confounded.lift_test("Email", holdout=0.3, seed=seed)
        assert test.standard_error > 0
        assert abs(test.incremental_conversions - test.true_incremental_conversions) < (
            3 * test.standard_error
        )
    assert test.true_incremental_conversions > 0


def test_zero_lift_channel_has_zero_true_lift(confounded):
    test = confounded.lift_test(PLACEBO, holdout=0.2, seed=1)
    assert test.true_incremental_conversions == 0
    assert test.expected_incremental_conversions == 0
    assert abs(test.incremental_conversions) < 3 * test.standard_error


def test_whole_window_lift_truth_is_the_total_effect(mediated):
    for channel in ("Online Video", "Paid Search Brand"):
        test = mediated.lift_test(channel, holdout=0.1)
        row = mediated.truth.loc[channel]
        assert test.true_incremental_conversions == row["incremental_conversions"]
        assert test.expected_incremental_conversions == pytest.approx(
            row["expected_incremental_conversions"], rel=1e-6
        )


def test_lift_test_fields_and_units(confounded):
    test = confounded.lift_test("Paid Search Brand", holdout=0.25, seed=2)
    n_users = confounded.params["n_users"]
    assert test.population == n_users == test.n_treated + test.n_holdout
    assert 0.2 < test.n_holdout / n_users < 0.3
    assert test.channel == "Paid Search Brand" and test.holdout == 0.25
    rate_t = test.treated_conversions / test.n_treated
    rate_h = test.holdout_conversions / test.n_holdout
    assert test.incremental_conversions == pytest.approx((rate_t - rate_h) * n_users)
    start = pd.Timestamp(confounded.params["start"])
    assert test.start == start and test["start"] == start
    assert test.end == start + pd.Timedelta(days=confounded.params["n_days"])
    assert test.to_dict()["seed"] == 2


def test_partial_window_counts_only_its_days(confounded):
    start = pd.Timestamp(confounded.params["start"])
    full = confounded.lift_test("Email", holdout=0.3)
    part = confounded.lift_test(
        "Email", holdout=0.3, start=start + pd.Timedelta(days=10), end="2024-01-21"
    )
    assert part.start == start + pd.Timedelta(days=10)
    assert part.end == pd.Timestamp("2024-01-21", tz="UTC")
    assert 0 < part.expected_incremental_conversions < full.expected_incremental_conversions


def test_frame_has_the_lift_tests_columns(confounded):
    tests = [confounded.lift_test(c, holdout=0.2) for c in ("Email", PLACEBO)]
    frame = lift_tests_frame(tests)
    assert tuple(frame.columns) == LIFT_TEST_COLUMNS
    assert list(frame["channel"]) == ["Email", PLACEBO]
    assert frame["incremental_conversions"].dtype == np.float64
    assert isinstance(frame["start"].dtype, pd.DatetimeTZDtype)
    one = tests[0].to_frame()
    assert one.shape == (1, 6)
    with_truth = tests[0].to_frame(include_truth=True)
    assert (
        with_truth.loc[0, "true_incremental_conversions"] == tests[0].true_incremental_conversions
    )
    assert isinstance(tests[0], LiftTest)


def test_lift_test_intervals_cover_the_truth_across_holdout_draws():
    sim = simulate("clean", n_users=6_000, n_days=30, seed=4, lift={"Email": 20.0})
    z = []
    for seed in range(12):
        test = sim.lift_test("Email", holdout=0.5, seed=seed)
        z.append(
            (test.incremental_conversions - test.true_incremental_conversions) / test.standard_error
        )
    z = np.array(z)
    assert (np.abs(z) < 1.96).mean() >= 0.75
    assert abs(z.mean()) < 1.0  # unbiased up to noise (12 draws: SE of the mean ~0.3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"channel": "Radio"}, "unknown channel"),
        ({"holdout": 0.0}, "holdout"),
        ({"holdout": 1.0}, "holdout"),
        ({"seed": -1}, "seed"),
        ({"start": "2024-01-10", "end": "2024-01-05"}, "before"),
        ({"start": "yesterday-ish"}, "start"),
        ({"end": "NaT"}, "end"),
    ],
)
def test_bad_lift_test_arguments_raise(kwargs, match):
    sim = simulate("clean", n_users=500, n_days=20, seed=0)
    kwargs = {"channel": "Email", **kwargs}
    channel = kwargs.pop("channel")
    with pytest.raises(ConfigurationError, match=match):
        sim.lift_test(channel, **kwargs)
