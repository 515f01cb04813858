"""Hosts an app answers itself: only names that never resolve may be claimed."""

import pytest

from parley.outbound import OutboundRequest
from tools.in_process import in_process_register, in_process_reply


@pytest.mark.parametrize("host", ["example.com", "localhost", "127.0.0.1", "demo.parley.local"])
def test_a_host_that_could_resolve_cannot_be_claimed(host: str) -> None:
    with pytest.raises(ValueError, match="could resolve"):
        in_process_register(host=host, answerer=lambda request: None)  # type: ignore[arg-type,return-value]


def test_unclaimed_and_malformed_urls_are_left_to_the_outbound_client() -> None:
    for url in ["https://example.com/x", "https://other.parley.invalid/", "http://[::1/"]:
        assert in_process_reply(OutboundRequest("POST", url, {}, b"{}")) is None


def test_the_demo_claims_its_host_when_django_starts() -> None:
    request = OutboundRequest("GET", "https://demo.parley.invalid/order-status", {}, None)
    reply = in_process_reply(request)
    assert reply is not None
    assert reply.status == 405  # answered by the demo, which takes its calls in a POST
