"""Building and sampling the PyMC model: pure functions of the design's arrays.

The hazard is a logit link on each aggregated row (unique exposure state, covariate cell,
day of week, path length)::

    logit h = intercept + covariates @ gamma + dow_effect[dow] + response @ beta
    conversions ~ Binomial(at_risk, h)        (written as a Potential: counts may be fractional)
    beta_c = tau * z_c,  z_c ~ Normal(0, 1),  tau ~ HalfNormal(channel_scale)

A logit is (for daily hazards of a few per mille) a log link: ``exp(beta_c)`` is the
relative rise of the daily hazard at one fresh exposure. Lift tests enter as
``observed ~ Normal(scale * sum_rows at_risk (h - h without the channel), se^2 (1 + kappa^2))``
with ``kappa ~ HalfNormal(lift_mismatch)``, computed on the test window's rows.

Every array enters through ``pm.Data`` and rows are padded to a power of two (padding rows
have zero days at risk), so refits of the same shape reuse the compiled model: compiled
models are cached per shape within the process.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np

from causality.errors import ConfigurationError, EstimationError

_COMPILED: dict[tuple, Any] = {}
_MIN_ROWS = 64


def _padded(n: int) -> int:
    return max(_MIN_ROWS, 1 << int(np.ceil(np.log2(max(n, 1)))))


def _pad(array: np.ndarray, rows: int, fill: float = 0.0) -> np.ndarray:
    out = np.full((rows, *array.shape[1:]), fill, dtype=array.dtype)
    out[: len(array)] = array
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class LiftData:
    """Rows of every lift test's window, stacked, with the test each row belongs to."""

    response: np.ndarray  # (n_rows, n_channels)
    covariates: np.ndarray
    dow: np.ndarray
    at_risk: np.ndarray
    channel: np.ndarray  # per row: the tested channel's index
    test: np.ndarray  # per row: which test
    scale: np.ndarray  # per test: population / analysed users
    observed: np.ndarray  # per test
    standard_error: np.ndarray  # per test

    @property
    def n_tests(self) -> int:
        """Number of lift tests."""
        return len(self.observed)


def model_data(cells: Any, lift: LiftData | None, intercept_mu: float) -> dict[str, np.ndarray]:
    """The ``pm.Data`` arrays of a fit, padded to the cache's shapes."""
    rows = _padded(cells.n_rows)
    data = {
        "response": _pad(cells.response, rows),
        "covariates": _pad(cells.covariates, rows),
        "dow": _pad(cells.dow, rows).astype(np.int64),
        "at_risk": _pad(cells.at_risk, rows).astype(np.float64),
        "conversions": _pad(cells.conversions, rows).astype(np.float64),
        "intercept_mu": np.asarray(intercept_mu, dtype=np.float64),
    }
    if lift is not None:
        lrows = _padded(len(lift.at_risk))
        onehot = np.zeros((lift.n_tests, lrows))
        onehot[lift.test, np.arange(len(lift.test))] = 1.0
        data.update(
            lift_response=_pad(lift.response, lrows),
            lift_covariates=_pad(lift.covariates, lrows),
            lift_dow=_pad(lift.dow, lrows).astype(np.int64),
            lift_at_risk=_pad(lift.at_risk, lrows),
            lift_channel=_pad(lift.channel, lrows).astype(np.int64),
            lift_onehot=onehot,
            lift_scale=lift.scale.astype(np.float64),
            lift_observed=lift.observed.astype(np.float64),
            lift_se=lift.standard_error.astype(np.float64),
        )
    return data


def build_model(
    data: dict[str, np.ndarray],
    *,
    channels: tuple[str, ...],
    covariate_names: tuple[str, ...],
    priors: dict[str, float],
) -> Any:
    """The PyMC model of the hazard design (see the module docstring)."""
    import pymc as pm
    import pytensor.tensor as pt

    coords = {"channel": list(channels), "covariate": list(covariate_names), "dow": list(range(7))}
    with pm.Model(coords=coords) as model:
        d = {k: pm.Data(k, v) for k, v in data.items()}
        intercept = pm.Normal("intercept", mu=d["intercept_mu"], sigma=priors["intercept_sd"])
        dow = pm.ZeroSumNormal("dow_effect", sigma=priors["dow_sd"], dims="dow")
        tau = pm.HalfNormal("channel_scale", sigma=priors["channel_scale"])
        z = pm.Normal("channel_z", 0.0, 1.0, dims="channel")
        beta = pm.Deterministic("beta", tau * z, dims="channel")
        if covariate_names:
            gamma = pm.Normal("gamma", 0.0, priors["covariate_sd"], dims="covariate")
        else:
            gamma = pt.zeros(0)

        def eta(prefix: str) -> Any:
            return (
                intercept
                + pt.dot(d[f"{prefix}covariates"], gamma)
                + dow[d[f"{prefix}dow"]]
                + pt.dot(d[f"{prefix}response"], beta)
            )

        # Binomial log likelihood written out: conversions may be fractional (unattributed
        # conversions spread over the zero-exposure rows), and padding rows add nothing.
        lin = eta("")
        pm.Potential(
            "conversions_loglik",
            pt.sum(
                d["conversions"] * pt.log(pm.math.sigmoid(lin))
                + (d["at_risk"] - d["conversions"]) * pt.log(pm.math.sigmoid(-lin))
            ),
        )
        if "lift_observed" in d:
            lin = eta("lift_")
            rows = pt.arange(d["lift_response"].shape[0])
            own = d["lift_response"][rows, d["lift_channel"]] * beta[d["lift_channel"]]
            diff = d["lift_at_risk"] * (pm.math.sigmoid(lin) - pm.math.sigmoid(lin - own))
            implied = pm.Deterministic(
                "lift_implied", d["lift_scale"] * pt.dot(d["lift_onehot"], diff)
            )
            kappa = pm.HalfNormal("lift_mismatch", sigma=priors["lift_mismatch"])
            pm.Normal(
                "lift_obs",
                mu=implied,
                sigma=d["lift_se"] * pt.sqrt(1.0 + kappa**2),
                observed=d["lift_observed"],
            )
    return model


def cache_key(data: dict[str, np.ndarray], *structure: Any) -> tuple:
    """Shapes of the data plus whatever else fixes the graph."""
    return (tuple((k, v.shape) for k, v in sorted(data.items())), *structure)


def sample(
    data: dict[str, np.ndarray],
    *,
    key: tuple | None,
    build: Any,
    method: str,
    n_draws: int,
    n_tune: int,
    n_chains: int,
    seed: int | None,
    options: dict[str, Any],
) -> Any:
    """Draw from the posterior; returns ArviZ InferenceData (``posterior`` group)."""
    backend = options.get("backend", "auto")
    try:
        if method == "nuts" and backend in ("auto", "nutpie") and _has_nutpie():
            return _sample_nutpie(data, key, build, n_draws, n_tune, n_chains, seed, options)
        if method == "nuts":
            return _sample_pymc(build(), n_draws, n_tune, n_chains, seed, options)
        return _approximate(build(), method, n_draws, seed, options)
    except (ConfigurationError, ImportError):
        raise
    except Exception as exc:
        raise EstimationError(
            f"the sampler failed ({type(exc).__name__}: {exc}). Fix: try "
            "sampler={'backend': 'pymc'}, more n_tune, or stronger priors."
        ) from exc


def _has_nutpie() -> bool:
    try:
        import nutpie  # noqa: F401
    except ImportError:
        return False
    return True


def _sample_nutpie(data, key, build, n_draws, n_tune, n_chains, seed, options) -> Any:
    import nutpie

    compiled = None if key is None else _COMPILED.get(("nutpie", key))
    if compiled is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled = nutpie.compile_pymc_model(build())
        if key is not None:
            _COMPILED[("nutpie", key)] = compiled
    if data:
        compiled = compiled.with_data(**data)
    extra = {k: v for k, v in options.items() if k not in ("backend", "cores")}
    return nutpie.sample(
        compiled,
        draws=n_draws,
        tune=n_tune,
        chains=n_chains,
        cores=options.get("cores", min(n_chains, 2)),
        seed=seed,
        progress_bar=False,
        **extra,
    )


def _sample_pymc(model, n_draws, n_tune, n_chains, seed, options) -> Any:
    import pymc as pm

    extra = {k: v for k, v in options.items() if k not in ("backend", "cores")}
    with model:
        return pm.sample(
            draws=n_draws,
            tune=n_tune,
            chains=n_chains,
            cores=options.get("cores", 1),
            random_seed=seed,
            progressbar=False,
            compute_convergence_checks=False,
            **extra,
        )


def _approximate(model, method, n_draws, seed, options) -> Any:
    import pymc as pm

    with model:
        if method == "advi":
            approx = pm.fit(
                n=int(options.get("n_iterations", 20_000)),
                method="advi",
                random_seed=seed,
                progressbar=False,
            )
            return approx.sample(n_draws, random_seed=seed)
        try:
            import pymc_extras as pmx
        except ImportError as exc:
            raise ImportError(
                "method='pathfinder' needs pymc-extras: pip install pymc-extras"
            ) from exc
        return pmx.fit(method="pathfinder", num_draws=n_draws, random_seed=seed)
