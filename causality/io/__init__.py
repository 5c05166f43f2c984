"""Readers that turn files into the frames `Journeys` reads."""

from causality.io.files import read_table

__all__ = ["read_table"]
