"""Readers that turn files into the frames `Journeys` reads."""

from causality.io.files import read_table
from causality.io.ga4 import iter_ga4, read_ga4

__all__ = ["iter_ga4", "read_ga4", "read_table"]
