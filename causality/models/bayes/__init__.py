"""The Bayesian incrementality model: a person-period hazard model fitted with PyMC.

Importing this package does not import PyMC, PyTensor or ArviZ; fitting does.
"""

from causality.models.bayes.model import BayesianIncrementality
from causality.models.bayes.priors import DEFAULT_PRIORS
from causality.models.bayes.self_controlled import compare_designs

__all__ = ["DEFAULT_PRIORS", "BayesianIncrementality", "compare_designs"]
