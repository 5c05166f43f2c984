"""Journeys: event logs and path tables in, one vectorised container out."""

from causality.journeys.core import DEFAULT_SEP, Journeys

__all__ = ["DEFAULT_SEP", "Journeys"]
