"""Property-based run of schemathesis against the app's own OpenAPI schema (bounded)."""

import warnings

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def operations(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) == 8
    return found


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_api_has_no_server_errors(make_app, mode):
    client = make_app(allowed_hosts=("testserver",))  # schemathesis's host name
    generation = schemathesis.GenerationMode(mode)
    exercised = []
    for operation in operations(client.app):
        strategy = operation.as_strategy(generation_mode=generation)

        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                response = case.call()
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            # an operation whose every input is valid has no negative examples
            assert mode == "negative", operation.label
            continue
        exercised.append(operation.label)
    assert "POST /api/ddx" in exercised and "POST /api/studies" in exercised
