"""The OpenAPI 3.1 document: FastAPI's, plus the schemas of our hand-built bodies.

Routes answer with bytes they build themselves (fast and byte-stable), so their
bodies are described by the pydantic models of `causality.api.contracts`, added
here under ``components/schemas``. A copy of the document is committed next to
this module (``openapi.json``); a test checks that it matches. Regenerate it with::

    python -m causality.api.openapi causality/api/openapi.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from causality.api import contracts
from causality.api.schemas import EventBatch

DOCUMENTED_MODELS: tuple[type[BaseModel], ...] = (
    contracts.ProblemOut,
    contracts.EventBatchResult,
    contracts.EventOut,
    contracts.ApiKeyOut,
    contracts.ListOut,
    contracts.DeletedOut,
    contracts.HealthOut,
    contracts.AttributionOut,
    contracts.RunOut,
    contracts.ScheduleOut,
)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with every documented body schema."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    models = [(m, "serialization") for m in DOCUMENTED_MODELS] + [(EventBatch, "validation")]
    for model, mode in models:
        document = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
        components.update(document.pop("$defs", {}))
        components[model.__name__] = document
    return dict(sorted(schema.items()))


def install(app: FastAPI) -> None:
    """Serve `build_openapi`'s document (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    """Write the document to the path given (stdout without one)."""
    from causality.api.app import create_app
    from causality.api.settings import Settings

    argv = sys.argv[1:] if argv is None else argv
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(data_dir=folder))
        text = json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"
        app.state.services.close()
    if argv:
        with open(argv[0], "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
