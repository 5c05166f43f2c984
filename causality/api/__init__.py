"""The HTTP API service: events in, attribution and reports out.

`create_app` builds a FastAPI application from `Settings`; ``causality serve``
runs it with uvicorn. This package imports FastAPI only when `create_app` is
first used, so ``causality.api.cli`` (the ``serve`` and ``keys`` commands) stays
cheap to import.

Examples
--------
::

    from causality.api import Settings, create_app

    app = create_app(Settings(data_dir="/var/lib/causality"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from causality.api.settings import Settings

if TYPE_CHECKING:
    from causality.api.app import create_app

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from causality.api.app import create_app

        return create_app
    raise AttributeError(f"module 'causality.api' has no attribute {name!r}")
