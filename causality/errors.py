"""Exceptions and warnings raised by causality.

Every error also inherits a builtin exception, so ``except ValueError`` keeps
working in code that does not know about causality::

    CausalityError(Exception)
      JourneyValidationError(CausalityError, ValueError)   bad input data
      ConfigurationError(CausalityError, ValueError)       bad parameter
      ModelNotFoundError(CausalityError, LookupError, ValueError)
      EstimationError(CausalityError, RuntimeError)        numerical failure
    CausalityWarning(UserWarning)
      ConvergenceWarning, DataWarning, PluginWarning

Messages say what is wrong, where, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "CausalityError",
    "CausalityWarning",
    "ConfigurationError",
    "ConvergenceWarning",
    "DataWarning",
    "EstimationError",
    "JourneyValidationError",
    "ModelNotFoundError",
    "PluginWarning",
]


class CausalityError(Exception):
    """Base class of every error raised by causality."""


class JourneyValidationError(CausalityError, ValueError):
    """The input data breaks a rule: names the column, the rule, offending rows and the fix."""


class ConfigurationError(CausalityError, ValueError):
    """A parameter has a bad value: names it, the value and the allowed values."""


class ModelNotFoundError(CausalityError, LookupError, ValueError):
    """No model is registered under the requested name; the message lists the available ones."""


class EstimationError(CausalityError, RuntimeError):
    """A numerical failure or a sampler crash during fitting."""


class CausalityWarning(UserWarning):
    """Base class of every warning issued by causality."""


class ConvergenceWarning(CausalityWarning):
    """An iterative estimator or sampler did not converge cleanly."""


class DataWarning(CausalityWarning):
    """The input data was accepted, but something in it was ignored or repaired."""


class PluginWarning(CausalityWarning):
    """A third-party model plug-in was skipped or shadowed."""
