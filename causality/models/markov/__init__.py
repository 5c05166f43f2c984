"""Markov chain attribution: exact removal effects, and choosing the chain's order."""

from causality.models.markov.model import Markov

__all__ = ["Markov"]
