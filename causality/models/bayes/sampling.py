"""Sampling the posterior: nutpie or PyMC's NUTS, approximate previews, the compile cache.

Compiling a model costs ~15 s with nutpie, sampling a 100k-user fit a few seconds, so
compiled models are cached within the process by the data's trailing shapes (rows may
differ: channels, covariates and lift tests fix the graph) and whatever else fixes the
graph (priors, method): refits on other data of the same shape skip compilation.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import numpy as np

from causality._progress import progress_bar, progress_enabled
from causality.errors import ConfigurationError, EstimationError

_COMPILED: dict[tuple, Any] = {}
#: Seconds between progress updates while nutpie samples in the background.
_POLL_SECONDS = 0.25


def cache_key(data: dict[str, np.ndarray], *structure: Any) -> tuple:
    """Trailing shapes of the data (rows may differ) plus whatever else fixes the graph."""
    return (tuple((k, v.shape[1:]) for k, v in sorted(data.items())), *structure)


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
    progress: bool | None = None,
) -> Any:
    """Draw from the posterior; returns ArviZ InferenceData (``posterior`` group).

    ``progress`` shows a bar of draws (tuning included) through `causality._progress`.
    """
    backend = options.get("backend", "auto")
    settings = (n_draws, n_tune, n_chains, seed, options, progress)
    try:
        if method == "nuts" and backend in ("auto", "nutpie") and _has_nutpie():
            return _sample_nutpie(data, key, build, *settings)
        if method == "nuts":
            return _sample_pymc(build(), *settings)
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


def _sample_nutpie(data, key, build, n_draws, n_tune, n_chains, seed, options, progress) -> Any:
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
    sampler = nutpie.sample(
        compiled,
        draws=n_draws,
        tune=n_tune,
        chains=n_chains,
        cores=options.get("cores", min(n_chains, os.cpu_count() or 1)),
        seed=seed,
        progress_bar=False,
        blocking=False,
        **extra,
    )
    if not progress_enabled(progress):
        return sampler.wait()
    total = n_chains * (n_draws + n_tune)
    with progress_bar(total, "sampling", True) as bar:
        done = 0
        while not _finished(sampler):
            time.sleep(_POLL_SECONDS)
            now = _draws_so_far(sampler)
            bar.update(max(now - done, 0))
            done = max(done, now)
        bar.update(max(total - done, 0))
        return sampler.wait()


def _finished(sampler: Any) -> bool:
    """Whether a background nutpie sampler is done (nutpie 0.16 raises while it runs)."""
    try:
        return bool(sampler.is_finished)
    except TimeoutError:
        return False


def _draws_so_far(sampler: Any) -> int:
    """Draws stored so far (tuning included) by a running nutpie sampler, 0 if unknown."""
    try:
        draws, _ = sampler._sampler.inspect().get_arrow_trace()
        return int(sum(batch.num_rows for batch in draws))
    except Exception:  # a private API: a progress bar must never break a fit
        return 0


def _sample_pymc(model, n_draws, n_tune, n_chains, seed, options, progress) -> Any:
    import pymc as pm

    extra = {k: v for k, v in options.items() if k not in ("backend", "cores")}
    with model:
        return pm.sample(
            draws=n_draws,
            tune=n_tune,
            chains=n_chains,
            cores=options.get("cores", 1),
            random_seed=seed,
            progressbar=progress_enabled(progress),
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
