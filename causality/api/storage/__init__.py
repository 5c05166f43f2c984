"""Storage: SQLAlchemy Core tables, the engine (SQLite or PostgreSQL) and migrations."""

from causality.api.storage.engine import Database

__all__ = ["Database"]
