"""The model registry: built-in models and third-party plug-ins, found by name.

Built-ins live in a static table, so a source checkout has them without any
installed metadata. Third-party models are discovered once, through the
entry-point group ``causality.models``::

    [project.entry-points."causality.models"]
    my_model = "my_package.models:MyModel"

A plug-in that fails to import or does not look like a model is skipped with a
`PluginWarning`; a plug-in whose name clashes with a built-in is ignored with a
warning. Set ``CAUSALITY_DISABLE_PLUGINS=1`` to turn discovery off.
"""

from __future__ import annotations

import functools
import importlib
import os
import warnings
from importlib.metadata import entry_points
from typing import Any

import pandas as pd

from causality.errors import ModelNotFoundError, PluginWarning

ENTRY_POINT_GROUP = "causality.models"

#: name -> "module:Class" of every built-in model.
BUILTIN_MODELS: dict[str, str] = {
    "last_click": "causality.models.heuristics:LastClick",
    "first_click": "causality.models.heuristics:FirstClick",
    "linear": "causality.models.heuristics:Linear",
    "time_decay": "causality.models.heuristics:TimeDecay",
    "position_based": "causality.models.heuristics:PositionBased",
    "last_non_direct": "causality.models.heuristics:LastNonDirect",
    "markov": "causality.models.markov:Markov",
    "shapley": "causality.models.shapley:Shapley",
    "incrementality": "causality.models.bayes:BayesianIncrementality",
}


def _import(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def check_model_class(obj: Any) -> list[str]:
    """Reasons why ``obj`` is not a usable model class (empty when it is)."""
    if not isinstance(obj, type):
        return [f"expected a class, got {type(obj).__name__}"]
    problems = []
    if not callable(getattr(obj, "fit", None)):
        problems.append("has no fit(journeys) method")
    for attr in ("name", "description"):
        if not isinstance(getattr(obj, attr, None), str) or not getattr(obj, attr):
            problems.append(f"has no string class attribute {attr!r}")
    if getattr(obj, "kind", None) not in ("allocation", "incrementality"):
        problems.append("class attribute 'kind' is not 'allocation' or 'incrementality'")
    return problems


@functools.cache
def _plugins() -> dict[str, tuple[type, str]]:
    """Name -> (class, distribution) of every valid third-party model, read once."""
    if os.environ.get("CAUSALITY_DISABLE_PLUGINS", "").strip().lower() in ("1", "true", "yes"):
        return {}
    found: dict[str, tuple[type, str]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        source = ep.dist.name if ep.dist is not None else ep.value
        if ep.name in BUILTIN_MODELS:
            warnings.warn(
                f"plug-in model {ep.name!r} from {source!r} has the name of a built-in model; "
                "the built-in is kept and the plug-in ignored.",
                PluginWarning,
                stacklevel=2,
            )
            continue
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plug-in must never break the library
            warnings.warn(
                f"skipped plug-in model {ep.name!r} from {source!r}: import failed with "
                f"{type(exc).__name__}: {exc}",
                PluginWarning,
                stacklevel=2,
            )
            continue
        problems = check_model_class(obj)
        if problems:
            warnings.warn(
                f"skipped plug-in model {ep.name!r} from {source!r}: it {'; '.join(problems)}",
                PluginWarning,
                stacklevel=2,
            )
            continue
        found[ep.name] = (obj, source)
    return found


def refresh_plugins() -> None:
    """Forget discovered plug-ins, so the next lookup reads entry points again."""
    _plugins.cache_clear()


def available_models() -> list[str]:
    """Names of every registered model, built-in or plug-in, sorted.

    Examples
    --------
    >>> import causality as ca
    >>> "last_click" in ca.available_models()
    True
    """
    return sorted({*BUILTIN_MODELS, *_plugins()})


def get_model(name: str) -> type:
    """The model class registered under ``name``.

    Raises
    ------
    ModelNotFoundError
        When no model has that name; the message lists the available ones.
    """
    if isinstance(name, str) and name in BUILTIN_MODELS:
        return _import(BUILTIN_MODELS[name])
    plugins = _plugins()
    if isinstance(name, str) and name in plugins:
        return plugins[name][0]
    raise ModelNotFoundError(
        f"no model named {name!r}. Available models: {', '.join(available_models())}. "
        "Third-party models register under the entry-point group 'causality.models'."
    )


def describe_models() -> pd.DataFrame:
    """A table of every registered model: ``kind``, ``description`` and ``source``."""
    rows = []
    for name in available_models():
        cls = get_model(name)
        source = "built-in" if name in BUILTIN_MODELS else _plugins()[name][1]
        rows.append(
            {"model": name, "kind": cls.kind, "description": cls.description, "source": source}
        )
    return pd.DataFrame(rows).set_index("model")
