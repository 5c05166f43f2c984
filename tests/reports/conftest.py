import dataclasses
import warnings

import pandas as pd
import pytest

import causality as ca

EXAMPLE_MODELS = ("last_click", "linear", "markov", "shapley")

#: Channel names a hostile or careless data source could send: markup, formulas, mathtext.
HOSTILE = (
    "<script>alert(1)</script>",
    '=HYPERLINK("x","y")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    '$x$ & "quotes"',
    "_hidden",
)


@pytest.fixture(scope="session")
def example_journeys():
    return ca.Journeys.from_events(ca.datasets.load_example())


@pytest.fixture(scope="session")
def example_results(example_journeys):
    with warnings.catch_warnings():  # Shapley's negative credit for Email is expected here
        warnings.simplefilter("ignore", ca.errors.DataWarning)
        return [ca.attribute(example_journeys, m, n_bootstrap=40, seed=0) for m in EXAMPLE_MODELS]


@pytest.fixture(scope="session")
def example_report(example_results, example_journeys):
    return ca.report(example_results, journeys=example_journeys, title="Example & <Q2>")


@pytest.fixture(scope="session")
def example_html(example_report):
    return example_report.to_html()


@pytest.fixture(scope="session")
def hostile_journeys():
    names = list(HOSTILE)
    paths = [" > ".join(names[i : i + 3]) for i in range(len(names))] + names
    n = len(paths)
    frame = pd.DataFrame(
        {
            "path": paths,
            "conversions": [3 + (i % 4) for i in range(n)],
            "nulls": [5 + (i % 3) for i in range(n)],
            "value": [10.0 * (i + 1) for i in range(n)],
        }
    )
    return ca.Journeys.from_paths(frame)


@pytest.fixture(scope="session")
def hostile_report(hostile_journeys):
    results = [ca.attribute(hostile_journeys, m, n_bootstrap=20) for m in ("last_click", "markov")]
    # A Bayesian-looking result, so the diagnostics and baseline paths render hostile names too.
    bayes = dataclasses.replace(
        results[1],
        model="<img src=x onerror=alert(1)>",
        kind="incrementality",
        diagnostics={
            "r_hat_max": 1.2,
            "ess_bulk_min": 50.0,
            "divergences": 3,
            "n_draws_total": 400,
        },
        baseline=pd.Series(
            {
                "conversions": 2.0,
                "conversions_lower": 1.0,
                "conversions_upper": 3.0,
                "value": 20.0,
                "value_lower": 10.0,
                "value_upper": 30.0,
            }
        ),
    )
    truth = pd.Series({name: float(i) for i, name in enumerate(HOSTILE)}, name="<b>truth</b>")
    return ca.report(
        [*results, bayes],
        title="<script>document.title='x'</script>",
        truth=truth,
        journeys=hostile_journeys,
    )


@pytest.fixture(scope="session")
def hostile_html(hostile_report):
    return hostile_report.to_html()
