"""Shapley-value attribution: exact subset sums over coalitions, or sampled permutations.

`Shapley` is the model (registered as ``"shapley"``). The modules below it:
`coalitions` (bitmask coalitions per record), `values` (the games), `exact`
(exact subset sums over observed coalitions), `sampled` (the permutation
estimator with standard errors), `ordered` (credit by touch position) and
`plan` (what a fit prepares once and reuses for every bootstrap batch).
"""

from causality.models.shapley.model import Shapley
from causality.models.shapley.values import VALUE_FUNCTIONS

__all__ = ["VALUE_FUNCTIONS", "Shapley"]
