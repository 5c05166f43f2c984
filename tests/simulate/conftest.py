"""Shared small simulations (module-scoped work is the bulk of this folder's run time)."""

from __future__ import annotations

import pytest

from causality.simulate import simulate


@pytest.fixture(scope="session")
def confounded():
    return simulate("confounded", n_users=8_000, n_days=40, seed=3)


@pytest.fixture(scope="session")
def mediated():
    return simulate("mediated", n_users=8_000, n_days=40, seed=3)
