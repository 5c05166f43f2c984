"""Fuzzing with schemathesis against the app's own OpenAPI document (R-T-3).

Every operation gets generated requests (valid and invalid) with a test-mode key,
rate limits off: no answer may be a 5xx, every answer must match the documented
status codes, content types, headers and body schemas, and invalid input must be
rejected with 400, 413, 415 or 422. The default suite runs a few examples per
operation; the slow suite runs 100.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from causality.api import Settings, create_app
from causality.api.keystore import create_key
from tests.api.conftest import FakeClock

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _app():
    folder = Path(tempfile.mkdtemp(prefix="causality-fuzz-"))
    app = create_app(
        Settings(
            data_dir=folder,
            rate_limits=False,
            clock=FakeClock(),
            log_requests=False,
            attribution_budget_s=0.5,
        )
    )
    services = app.state.services
    with services.db.write() as conn:
        _record, secret = create_key(
            conn, name="fuzz", mode="test", scopes="all", now_us=services.now_us()
        )
    return app, secret, folder


APP, SECRET, FOLDER = _app()
schema = schemathesis.openapi.from_asgi("/v1/openapi.json", APP)
schema.config.generation.update(max_examples=8)
# Invalid input must be refused with one of these (R-T-3); 404 for ids that do not exist.
schema.config.checks.negative_data_rejection.expected_statuses = ["400", "404", "413", "415", "422"]


def _cleanup() -> None:
    APP.state.services.close()
    shutil.rmtree(FOLDER, ignore_errors=True)


# At exit, not in teardown_module: collecting this module builds the app even when every
# test in it is deselected.
atexit.register(_cleanup)


def _check(case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {SECRET}"},
        checks=CHECKS,
    )


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=8)
def test_api_conforms_to_its_schema(case):
    _check(case)


@pytest.mark.slow
@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=100)
def test_api_conforms_to_its_schema_thoroughly(case):
    _check(case)
