"""`attribute`: fit a registered model by name in one call."""

from __future__ import annotations

from typing import Any

import pandas as pd

from causality.errors import ConfigurationError
from causality.journeys import Journeys
from causality.registry import get_model
from causality.results import AttributionResult


def attribute(
    journeys: Journeys | pd.DataFrame, model: str = "last_click", **params: Any
) -> AttributionResult:
    """Attribute conversions to channels with a registered model.

    Looks ``model`` up in the registry (built-ins and plug-ins), builds it with
    ``params`` and fits it.

    Parameters
    ----------
    journeys : Journeys or DataFrame
        Journeys, or a DataFrame read as a path table (it has a ``path`` column) or
        an event log (default column names).
    model : str, default "last_click"
        A name from `available_models`. A model instance is accepted too (then
        ``params`` must be empty).
    **params
        The model's parameters, e.g. ``ci_level=0.9, seed=0, n_bootstrap=200``.
        An unknown name raises `ConfigurationError` listing the valid ones.

    Returns
    -------
    AttributionResult

    Raises
    ------
    ModelNotFoundError
        Unknown model name (the message lists the available models).
    ConfigurationError
        Unknown or invalid parameter.

    Examples
    --------
    >>> import causality as ca
    >>> journeys = ca.Journeys.from_events(ca.datasets.load_example(), lookback="30D")
    >>> result = ca.attribute(journeys, model="last_click", ci_level=0.9, seed=0)
    >>> round(result.table["conversions"].sum()) == round(result.total_conversions)
    True
    """
    if not isinstance(model, str):
        if params:
            raise ConfigurationError(
                "pass parameters to the model's constructor when giving a model instance, or "
                "give its name: attribute(journeys, 'linear', ci_level=0.8)"
            )
        if not callable(getattr(model, "fit", None)):
            raise ConfigurationError(f"model must be a name or a model instance; got {model!r}")
        return model.fit(journeys)
    cls = get_model(model)
    if hasattr(cls, "from_params"):
        instance = cls.from_params(params)
    else:
        try:
            instance = cls(**params)
        except TypeError as exc:
            raise ConfigurationError(f"bad parameters for model {model!r}: {exc}") from exc
    return instance.fit(journeys)
