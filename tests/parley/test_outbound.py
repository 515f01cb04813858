"""parley.outbound against real HTTP servers on loopback: what it refuses, how it follows
redirects, caps bodies and keeps its deadline, and that it never raises for the far end."""

import asyncio
import gzip
import ipaddress
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from parley.outbound import (
    OutboundClient,
    OutboundRequest,
    Outcome,
    Policy,
    address_class,
    outbound_client,
)
from tests.conftest import wait_until_logged

LOOPBACK = Policy(
    allowed_networks=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
)


def send(policy: Policy, request: OutboundRequest, timeout: float = 5) -> Any:
    async def go() -> Any:
        async with OutboundClient(policy) as client:
            return await client.send(request, timeout=timeout)

    # In a thread of its own: a browser test earlier in the run may leave its loop in this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


def get(policy: Policy, url: str, **kwargs: Any) -> Any:
    return send(policy, OutboundRequest("GET", url), **kwargs)


@pytest.fixture
def receiver(loopback_server: HTTPServer) -> Iterator[HTTPServer]:
    """The shared loopback server; these tests pass their own policy, not the settings."""
    yield loopback_server
    loopback_server.clear()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Refused targets: every class of address, in several spellings. None may be reached.

FORBIDDEN = [
    ("127.0.0.1", "a loopback address"),
    ("127.1", "a loopback address"),
    ("2130706433", "a loopback address"),  # decimal
    ("017700000001", "a loopback address"),  # octal
    ("0x7f000001", "a loopback address"),  # hex
    ("0x7f.0.0.1", "a loopback address"),
    ("localhost", "a loopback address"),
    ("[::1]", "a loopback address"),
    ("[::ffff:127.0.0.1]", "a loopback address inside an IPv6 address"),
    ("[::ffff:7f00:1]", "a loopback address inside an IPv6 address"),
    ("[2002:7f00:1::]", "a loopback address inside an IPv6 address"),  # 6to4
    ("10.0.0.5", "a private address"),
    ("172.16.8.1", "a private address"),
    ("192.168.1.1", "a private address"),
    ("[fd12:3456::1]", "a private address"),
    ("[::ffff:10.0.0.5]", "a private address inside an IPv6 address"),
    ("[64:ff9b::a00:5]", "a private address inside an IPv6 address"),  # NAT64
    ("169.254.169.254", "the cloud metadata address"),
    ("[::ffff:169.254.169.254]", "the cloud metadata address inside an IPv6 address"),
    ("169.254.10.1", "a link-local address"),
    ("[fe80::1]", "a link-local address"),
    ("100.64.0.1", "a carrier-grade NAT address"),
    ("100.127.255.254", "a carrier-grade NAT address"),
    ("224.0.0.1", "a multicast address"),
    ("239.255.255.250", "a multicast address"),
    ("[ff02::1]", "a multicast address"),
    ("0.0.0.0", "an unspecified address"),
    ("0", "an unspecified address"),
    ("[::]", "an unspecified address"),
    ("240.0.0.1", "a reserved address"),
    ("255.255.255.255", "a reserved address"),
    ("198.18.0.1", "a private address"),  # benchmarking range
    ("192.0.2.1", "a private address"),  # documentation range
]


@pytest.mark.parametrize(("host", "kind"), FORBIDDEN)
def test_non_public_addresses_are_refused_before_any_connection(
    receiver: HTTPServer, host: str, kind: str
) -> None:
    delivery = get(Policy(), f"http://{host}:{receiver.port}/hook")
    assert delivery.error.outcome == Outcome.REFUSED
    assert kind in delivery.error.message
    assert "ask your operator to allow it" in delivery.error.message
    assert not delivery.error.retryable
    assert receiver.log == []


def test_a_refusal_names_the_host_and_the_address_it_resolves_to() -> None:
    delivery = get(Policy(), "http://localhost:9/")
    assert delivery.error.message.startswith("localhost resolves to ")


def test_octal_dotted_spelling_is_refused_as_an_invalid_url() -> None:
    delivery = get(Policy(), "http://0177.0.0.1/")
    assert delivery.error.outcome == Outcome.REFUSED
    assert "Invalid IPv4 address" in delivery.error.message


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "192.88.99.1"],
)
def test_public_addresses_are_not_classed(address: str) -> None:
    assert address_class(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "file://localhost/etc/passwd",
        "FILE:///etc/passwd",
        "gopher://x/",
    ],
)
def test_only_http_and_https_are_called(url: str) -> None:
    """file:// in any spelling reads no file. (A JSON Schema's `$ref` never comes here: it is
    resolved inside the schema or refused, see tests/tools/test_schema_safety.py.)"""
    delivery = get(Policy(), url)
    assert delivery.error.outcome == Outcome.REFUSED
    assert "root:" not in delivery.error.message


def test_https_can_be_required(receiver: HTTPServer) -> None:
    policy = Policy(allowed_networks=LOOPBACK.allowed_networks, require_https=True)
    delivery = get(policy, receiver.url_for("/hook"))
    assert delivery.error.outcome == Outcome.REFUSED
    assert "https" in delivery.error.message
    assert receiver.log == []


# The operator's allow-list.


def test_allowed_networks_let_loopback_through(receiver: HTTPServer) -> None:
    receiver.expect_request("/hook").respond_with_json({"ok": True})
    delivery = get(LOOPBACK, receiver.url_for("/hook"))
    assert delivery.ok
    assert delivery.content == {"ok": True}


def test_an_allowed_host_name_is_exempt_whatever_it_resolves_to(receiver: HTTPServer) -> None:
    receiver.expect_request("/hook").respond_with_data("hi")
    policy = Policy(allowed_hosts=frozenset({"localhost"}))
    assert get(policy, f"http://localhost:{receiver.port}/hook").ok
    refused = get(policy, f"http://127.0.0.1:{receiver.port}/hook")
    assert refused.error.outcome == Outcome.REFUSED


def test_an_allowed_network_does_not_open_the_others() -> None:
    policy = Policy(allowed_networks=(ipaddress.ip_network("10.20.0.0/16"),))
    assert get(policy, "http://10.21.0.1/").error.outcome == Outcome.REFUSED
    assert get(policy, "http://127.0.0.1/").error.outcome == Outcome.REFUSED


def test_settings_parse_networks_and_hosts(settings: Any) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = ["10.20.0.0/16", "::1", "CRM.internal.", ""]
    policy = Policy.from_settings()
    assert ipaddress.ip_network("10.20.0.0/16") in policy.allowed_networks
    assert ipaddress.ip_network("::1/128") in policy.allowed_networks
    assert policy.allowed_hosts == frozenset({"crm.internal"})


def test_the_connection_itself_is_guarded_when_the_address_changes_after_the_check(
    receiver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As if DNS answered a public address to the check and a private one to the connect."""

    async def checked_fine(self: OutboundClient, url: Any) -> None:
        return None

    monkeypatch.setattr(OutboundClient, "_check", checked_fine)
    delivery = get(Policy(), f"http://localhost:{receiver.port}/hook")
    assert delivery.error.outcome == Outcome.REFUSED
    assert "a loopback address" in delivery.error.message
    assert receiver.log == []


# Redirects.


def test_a_same_origin_redirect_is_followed_with_its_headers(receiver: HTTPServer) -> None:
    receiver.expect_request("/old").respond_with_data("", 307, {"Location": "/new"})
    receiver.expect_request("/new", method="POST", headers={"x-api-key": "k"}).respond_with_json(
        {"moved": True}
    )
    request = OutboundRequest("POST", receiver.url_for("/old"), {"x-api-key": "k"}, b"{}")
    delivery = send(LOOPBACK, request)
    assert delivery.ok, delivery.error
    assert delivery.content == {"moved": True}
    assert delivery.redirects == [receiver.url_for("/new")]


def test_a_redirect_to_another_origin_carries_no_credentials(receiver: HTTPServer) -> None:
    other = f"http://localhost:{receiver.port}/elsewhere"
    receiver.expect_request("/old").respond_with_data("", 302, {"Location": other})
    receiver.expect_request("/elsewhere").respond_with_data("ok")
    headers = {"x-api-key": "k", "authorization": "Bearer t", "content-type": "application/json"}
    delivery = send(LOOPBACK, OutboundRequest("POST", receiver.url_for("/old"), headers, b"{}"))
    assert delivery.ok
    second = receiver.log[1][0]
    assert "x-api-key" not in second.headers
    assert "authorization" not in second.headers
    assert second.method == "GET"  # 302 after POST becomes GET, as browsers do


def test_each_hop_is_checked_again(receiver: HTTPServer) -> None:
    receiver.expect_request("/old").respond_with_data(
        "", 302, {"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    delivery = get(LOOPBACK, receiver.url_for("/old"))
    assert delivery.error.outcome == Outcome.REFUSED
    assert "cloud metadata" in delivery.error.message


def test_redirects_stop_after_a_few_hops(receiver: HTTPServer) -> None:
    receiver.expect_request("/loop").respond_with_data("", 302, {"Location": "/loop"})
    delivery = get(LOOPBACK, receiver.url_for("/loop"))
    assert delivery.error.outcome == Outcome.TOO_MANY_REDIRECTS
    assert len(receiver.log) == LOOPBACK.max_redirects + 1


# Replies.


def test_a_non_2xx_reply_is_an_error_that_keeps_the_body(receiver: HTTPServer) -> None:
    receiver.expect_request("/hook").respond_with_json({"detail": "no such city"}, status=404)
    delivery = get(LOOPBACK, receiver.url_for("/hook"))
    assert delivery.error.outcome == Outcome.HTTP_ERROR
    assert delivery.error.message == "the webhook answered 404 NOT FOUND"
    assert not delivery.error.retryable
    assert delivery.content == {"detail": "no such city"}


def test_server_errors_may_be_retried(receiver: HTTPServer) -> None:
    receiver.expect_request("/hook").respond_with_data("down", status=503)
    assert get(LOOPBACK, receiver.url_for("/hook")).error.retryable


def test_text_and_mislabelled_json_come_back_as_text(receiver: HTTPServer) -> None:
    receiver.expect_request("/text").respond_with_data("sunny", content_type="text/plain")
    receiver.expect_request("/bad").respond_with_data("{oops", content_type="application/json")
    assert get(LOOPBACK, receiver.url_for("/text")).content == "sunny"
    assert get(LOOPBACK, receiver.url_for("/bad")).content == "{oops"


def test_an_undecodable_reply_is_an_error(receiver: HTTPServer) -> None:
    receiver.expect_request("/bin").respond_with_data(
        b"\xff\xfe\x00\x81", content_type="text/plain; charset=utf-8"
    )
    delivery = get(LOOPBACK, receiver.url_for("/bin"))
    assert delivery.error.outcome == Outcome.UNDECODABLE


def test_an_oversized_reply_is_cut_off_while_it_streams(receiver: HTTPServer) -> None:
    def endless(request: Request) -> Response:
        chunks = (b"x" * 65536 for _ in range(1000))  # 64 MiB, never sent in full
        return Response(chunks, content_type="text/plain")

    receiver.expect_request("/big").respond_with_handler(endless)
    policy = Policy(allowed_networks=LOOPBACK.allowed_networks, max_body_bytes=256 * 1024)
    delivery = get(policy, receiver.url_for("/big"))
    assert delivery.error.outcome == Outcome.TOO_LARGE
    assert "256 KiB" in delivery.error.message


def test_a_compressed_reply_is_capped_by_its_decompressed_size(receiver: HTTPServer) -> None:
    bomb = gzip.compress(b"0" * (4 * 1024 * 1024))  # 4 MiB in about 4 KiB
    receiver.expect_request("/bomb").respond_with_data(
        bomb, headers={"Content-Encoding": "gzip"}, content_type="text/plain"
    )
    policy = Policy(allowed_networks=LOOPBACK.allowed_networks, max_body_bytes=1024 * 1024)
    assert get(policy, receiver.url_for("/bomb")).error.outcome == Outcome.TOO_LARGE


# Failures to connect, and the deadline.


def test_a_refused_connection_says_so() -> None:
    port = closed_port()
    delivery = get(LOOPBACK, f"http://127.0.0.1:{port}/")
    assert delivery.error.outcome == Outcome.UNREACHABLE
    assert delivery.error.message == f"127.0.0.1:{port} refused the connection"
    assert delivery.error.retryable


def test_an_unknown_host_is_a_dns_error() -> None:
    delivery = get(Policy(), "http://no-such-host.invalid/")
    assert delivery.error.outcome == Outcome.DNS_ERROR
    assert "no-such-host.invalid could not be found" in delivery.error.message


# The slow servers below answer only once the client has given up (or after SAFETY seconds):
# a client that waited for them would get a whole reply, not a timeout.
SAFETY = 30


def test_a_slow_reply_times_out(receiver: HTTPServer) -> None:
    gave_up = threading.Event()

    def slow(request: Request) -> Response:
        gave_up.wait(SAFETY)
        return Response("late")

    receiver.expect_request("/slow").respond_with_handler(slow)
    delivery = get(LOOPBACK, receiver.url_for("/slow"), timeout=0.5)
    gave_up.set()
    assert delivery.error.outcome == Outcome.TIMEOUT
    assert delivery.error.message == "no complete reply within 0.5 seconds"
    wait_until_logged(receiver, 1)


def test_the_deadline_covers_the_whole_call_not_each_read(receiver: HTTPServer) -> None:
    gave_up = threading.Event()

    def trickle(request: Request) -> Response:
        def drip() -> Iterator[bytes]:
            for _ in range(SAFETY * 10):  # each read is quick; the whole reply takes SAFETY s
                if gave_up.wait(0.1):
                    return
                yield b"."

        return Response(drip(), content_type="text/plain")

    receiver.expect_request("/trickle").respond_with_handler(trickle)
    delivery = get(LOOPBACK, receiver.url_for("/trickle"), timeout=0.6)
    gave_up.set()
    assert delivery.error.outcome == Outcome.TIMEOUT


# The event loop's shared clients.


def test_a_loop_shares_one_client_per_policy_and_closes_them_when_it_ends(
    receiver: HTTPServer,
) -> None:
    receiver.expect_request("/shared").respond_with_data("ok")
    other = Policy(allowed_networks=LOOPBACK.allowed_networks, max_redirects=0)

    async def go() -> tuple[OutboundClient, ...]:
        first, again, another = (
            outbound_client(LOOPBACK),
            outbound_client(LOOPBACK),
            outbound_client(other),
        )
        for _ in range(2):
            delivery = await first.send(
                OutboundRequest("GET", receiver.url_for("/shared")), timeout=5
            )
            assert delivery.ok
        return first, again, another

    with ThreadPoolExecutor(1) as pool:
        first, again, another = pool.submit(asyncio.run, go()).result()
    assert first is again
    assert another is not first
    assert first.closed
    assert another.closed
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, _client_of_a_new_loop()).result() is not first


async def _client_of_a_new_loop() -> OutboundClient:
    return outbound_client(LOOPBACK)
