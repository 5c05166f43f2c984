"""The public contract suite every attribution model must pass.

Plug-in authors run it on their own models::

    from causality.testing import parametrize_with_checks
    from my_package import MyModel

    @parametrize_with_checks([MyModel])
    def test_contract(model, check):
        check(model)

Each model x check pair becomes its own test, so one failure never hides another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from causality.testing.checks import CHECKS, N_BOOTSTRAP
from causality.testing.data import contract_events, contract_journeys, contract_paths

__all__ = [
    "CHECKS",
    "N_BOOTSTRAP",
    "check_model",
    "contract_events",
    "contract_journeys",
    "contract_paths",
    "model_checks",
    "parametrize_with_checks",
]


def model_checks(model: type) -> list[tuple[str, Callable[[type], None]]]:
    """(name, check) pairs to run on ``model``."""
    return list(CHECKS.items())


def check_model(model: type) -> None:
    """Run every check on ``model`` and raise one `AssertionError` listing all failures."""
    failures = []
    for name, check in model_checks(model):
        try:
            check(model)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    if failures:
        raise AssertionError(
            f"{model.__name__} fails {len(failures)} checks:\n" + "\n".join(failures)
        )


def parametrize_with_checks(models: Iterable[type | str] | None = None) -> Any:
    """A ``pytest.mark.parametrize`` over (model, check) pairs, one test id per pair.

    Parameters
    ----------
    models : iterable of model classes or registered names, optional
        Defaults to every registered model, plug-ins included.
    """
    import pytest

    from causality.registry import available_models, get_model

    classes = [get_model(m) if isinstance(m, str) else m for m in (models or available_models())]
    params = [
        pytest.param(cls, check, id=f"{cls.name}-{name.removeprefix('check_')}")
        for cls in classes
        for name, check in model_checks(cls)
    ]
    return pytest.mark.parametrize(("model", "check"), params)
