"""Markov chain attribution: exact removal effects, and choosing the chain's order."""

from causality.models.markov.model import Markov
from causality.models.markov.order import OrderSelection, choose_order

__all__ = ["Markov", "OrderSelection", "choose_order"]
