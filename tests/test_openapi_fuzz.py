"""Property-based run of the whole API from its own OpenAPI document: no input gives a 5xx,
and every error comes in the one error shape."""

from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from config.wsgi import application
from tests.conftest import Cast

pytestmark = [pytest.mark.django_db, pytest.mark.fuzz]


schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", application)


@pytest.fixture(autouse=True)
def _keep_the_test_transactions_connection() -> Iterator[None]:
    """Calls go straight to the WSGI app, so, as Django's test client does, stop the
    end-of-request hook from closing the connection that holds the test's transaction."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_input_makes_the_api_fail(case: schemathesis.Case, cast: Cast) -> None:
    response = case.call(headers={"x-api-key": cast.key.secret})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "code", "details"}, body
        assert body["error"]
