"""Attribution models: every model is a frozen configuration whose ``fit`` returns a result.

Use them by name through `causality.attribute`, or directly::

    ca.models.LastClick(ci_level=0.9).fit(journeys)
"""

from causality.models.base import AttributionModel
from causality.models.heuristics import (
    FirstClick,
    HeuristicModel,
    LastClick,
    LastNonDirect,
    Linear,
    PositionBased,
    TimeDecay,
)
from causality.models.markov import Markov
from causality.models.shapley import Shapley

__all__ = [
    "AttributionModel",
    "FirstClick",
    "HeuristicModel",
    "LastClick",
    "LastNonDirect",
    "Linear",
    "Markov",
    "PositionBased",
    "Shapley",
    "TimeDecay",
]
