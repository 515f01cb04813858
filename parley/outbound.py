"""The one way Parley makes HTTP requests to addresses its users choose: tool webhooks, tool tests,
and later end-of-conversation callbacks and event webhooks.

It is safe to run inside a company network:
- only http and https (https alone when the operator requires it);
- the host is resolved first and every address it resolves to is checked; loopback, private,
  link-local (cloud metadata included), carrier-grade NAT, multicast, reserved and unspecified
  addresses are refused, over IPv4 and IPv6, including IPv4 addresses embedded in IPv6;
- the connection itself is made to an address checked at connect time, by httpx-secure's guard
  on the client's connection pool, so a DNS answer that changes in between gains nothing;
- redirects are followed at most `max_redirects` times, each hop checked again, and a hop to
  another origin carries none of the caller's credentials;
- the response body is capped while it streams, and one deadline covers the whole call.

`OutboundClient.send` never raises for anything the far end does: it returns a `Delivery` whose
`error` says what went wrong in words a person can act on, and whether retrying may help.
"""

import asyncio
import ipaddress
import json
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from types import TracebackType
from typing import Any, Self

import httpx
from httpx_secure import SSRFProtectionError, httpx_ssrf_protection

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

logger = logging.getLogger(__name__)

USER_AGENT = "Parley-Webhooks/1"
# Headers a redirect to another origin keeps; every other header the caller set is dropped.
HEADERS_KEPT_ACROSS_ORIGINS = frozenset({"accept", "content-type", "user-agent"})
CGNAT = IPv4Network("100.64.0.0/10")
NAT64 = IPv6Network("64:ff9b::/96")
METADATA = IPv4Address("169.254.169.254")
ALLOW_HINT = "ask your operator to allow it (OUTBOUND_ALLOWED_NETWORKS)"


class Outcome(StrEnum):
    SUCCESS = "success"
    HTTP_ERROR = "http_error"  # the far end answered, but not with 2xx
    TIMEOUT = "timeout"
    REFUSED = "refused"  # Parley's own policy refused the address or URL
    DNS_ERROR = "dns_error"
    UNREACHABLE = "unreachable"  # connection refused, reset, or not HTTP
    TOO_LARGE = "too_large"
    UNDECODABLE = "undecodable"
    TOO_MANY_REDIRECTS = "too_many_redirects"


@dataclass(frozen=True)
class OutboundError:
    outcome: Outcome
    message: str
    retryable: bool
    # For an HTTP error of a streamed request: the status and the start of the body it said.
    status: int | None = None
    said: str = ""


def _embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address carries: mapped, 6to4, Teredo's client, or NAT64."""
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in NAT64:
        return IPv4Address(ip.packed[-4:])
    return None


def address_class(ip: IPAddress) -> str | None:
    """What kind of non-public address this is ("a private address"), or None when public."""
    if isinstance(ip, IPv6Address) and (embedded := _embedded_ipv4(ip)):
        kind = address_class(embedded)
        return f"{kind} inside an IPv6 address" if kind else None
    checks: list[tuple[bool, str]] = [
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip == METADATA, "the cloud metadata address"),
        (ip.is_link_local, "a link-local address"),
        (isinstance(ip, IPv4Address) and ip in CGNAT, "a carrier-grade NAT address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private and not ip.is_reserved, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "a non-public address"),
    ]
    return next((label for hit, label in checks if hit), None)


def _parse_allowed(entries: list[str]) -> tuple[tuple[IPNetwork, ...], frozenset[str]]:
    networks, hosts = [], set()
    for entry in filter(None, (e.strip() for e in entries)):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return tuple(networks), frozenset(hosts)


@dataclass(frozen=True)
class Policy:
    """Where outbound requests may go. The operator's allowed networks and hosts (for on-premises
    webhooks, and the tests' loopback receiver) are exempt from the address checks."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: frozenset[str] = frozenset()
    require_https: bool = False
    max_redirects: int = 3
    max_body_bytes: int = 1024 * 1024

    @classmethod
    def from_settings(cls) -> "Policy":
        from django.conf import settings

        networks, hosts = _parse_allowed(settings.OUTBOUND_ALLOWED_NETWORKS)
        return cls(
            allowed_networks=networks,
            allowed_hosts=hosts,
            require_https=settings.OUTBOUND_REQUIRE_HTTPS,
            max_redirects=settings.OUTBOUND_MAX_REDIRECTS,
            max_body_bytes=settings.OUTBOUND_MAX_BODY_BYTES,
        )

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.allowed_hosts

    def address_refusal(self, host: str, ip: IPAddress) -> str | None:
        if self.host_allowed(host) or any(ip in net for net in self.allowed_networks):
            return None
        kind = address_class(ip)
        if kind is None:
            return None
        where = f"{ip} is" if host.strip("[]") == str(ip) else f"{host} resolves to {ip},"
        return f"{where} {kind}; {ALLOW_HINT}"

    def url_refusal(self, url: httpx.URL) -> str | None:
        if url.scheme not in ("http", "https"):
            return f"only http and https URLs can be called, not {url.scheme or 'this'}:"
        if self.require_https and url.scheme != "https":
            return "this server only calls https URLs; change the URL to https://"
        if not url.host:
            return "the URL has no host"
        return None


@dataclass
class Delivery:
    """What happened: the final request and the response, if one came."""

    method: str
    url: str
    status: int | None = None
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str = ""
    content: Any = None  # the body parsed as JSON when it says it is JSON, else its text
    duration_ms: float = 0.0
    redirects: list[str] = field(default_factory=list)
    error: OutboundError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class OutboundFailure(Exception):
    """Raised only by `OutboundClient.stream`, whose caller reads the body as it arrives."""

    def __init__(self, error: OutboundError) -> None:
        super().__init__(error.message)
        self.error = error


def _fail(outcome: Outcome, message: str, *, retryable: bool = False) -> OutboundFailure:
    return OutboundFailure(OutboundError(outcome, message, retryable))


@cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every client: building one reads the CA bundle (~10 ms)."""
    return httpx.create_ssl_context()


async def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        message = f"the host {host} could not be found (DNS lookup failed)"
        raise _fail(Outcome.DNS_ERROR, message, retryable=True) from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def _reason_of(status: int, given: str) -> str:
    return given or httpx.codes.get_reason_phrase(status)


def _content(body: bytes, content_type: str, charset: str | None) -> Any:
    try:
        text = body.decode(charset or "utf-8")
    except (UnicodeDecodeError, LookupError) as exc:
        raise _fail(
            Outcome.UNDECODABLE,
            f"the reply is not readable text ({content_type or 'no content type'})",
        ) from exc
    if "json" in content_type:
        try:
            return json.loads(text) if text else None
        except ValueError:
            return text  # labelled JSON but is not: the text is still worth showing
    return text


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything under it: causes, contexts, and the members of groups."""
    found: list[BaseException] = []
    todo = [exc]
    while todo and len(found) < 50:
        current = todo.pop()
        found.append(current)
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
        if isinstance(current, BaseExceptionGroup):
            todo += list(current.exceptions)
    return found


def _connect_error(exc: httpx.ConnectError, url: httpx.URL) -> OutboundError:
    detail = " ".join(str(e) for e in _causes(exc))
    if any(isinstance(e, ConnectionRefusedError) for e in _causes(exc)):
        detail += " refused"
    where = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
    if "CERTIFICATE_VERIFY_FAILED" in detail or "certificate" in detail.lower():
        return OutboundError(
            Outcome.UNREACHABLE, f"the TLS certificate of {url.host} could not be verified", False
        )
    if "refused" in detail.lower():
        return OutboundError(Outcome.UNREACHABLE, f"{where} refused the connection", True)
    if "name or service" in detail.lower() or "nodename" in detail.lower():
        return OutboundError(Outcome.DNS_ERROR, f"the host {url.host} could not be found", True)
    return OutboundError(Outcome.UNREACHABLE, f"could not connect to {where} ({exc})", True)


def _error_from(exc: Exception, url: httpx.URL, policy: Policy) -> OutboundError:
    if isinstance(exc, OutboundFailure):
        return exc.error
    if isinstance(exc, SSRFProtectionError):
        ip = exc.ip_addr
        refusal = policy.address_refusal(exc.hostname, ip) if ip else None
        return OutboundError(Outcome.REFUSED, refusal or str(exc), False)
    if isinstance(exc, httpx.ConnectError):
        return _connect_error(exc, url)
    if isinstance(exc, httpx.DecodingError):
        return OutboundError(Outcome.UNDECODABLE, "the reply's compressed body is corrupt", False)
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return OutboundError(Outcome.REFUSED, f"the URL cannot be called: {exc}", False)
    if isinstance(exc, httpx.RemoteProtocolError):
        return OutboundError(
            Outcome.UNREACHABLE, f"{url.host} closed the connection or did not answer in HTTP", True
        )
    return OutboundError(Outcome.UNREACHABLE, f"the request to {url.host} failed ({exc})", True)


@dataclass(frozen=True)
class OutboundRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None


class OutboundClient:
    """A guarded HTTP client. Open one for a batch of calls (it pools connections):

    async with OutboundClient() as outbound:
        delivery = await outbound.send(OutboundRequest("POST", url, headers, body), timeout=20)
    """

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or Policy.from_settings()
        client = httpx.AsyncClient(
            verify=_tls_context(),
            trust_env=False,  # no environment proxies: the guard must see the real peer
            follow_redirects=False,
            headers={"user-agent": USER_AGENT},
            # No cap on connections, so a burst of calls is not queued behind one another; few
            # kept alive, as the pool's bookkeeping grows with them (bench/tools.py).
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=20),
        )
        self._http = httpx_ssrf_protection(
            client,
            check_globally_reachable=False,  # address_refusal is the whole check, allow-list too
            custom_validator=self._address_permitted,
            dns_cache_ttl=60,
        )

    def _address_permitted(self, host: str, ip: IPAddress, port: int) -> bool:
        return self.policy.address_refusal(host, ip) is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def closed(self) -> bool:
        return self._http.is_closed

    async def _check(self, url: httpx.URL) -> None:
        if refusal := self.policy.url_refusal(url):
            raise _fail(Outcome.REFUSED, refusal)
        if self.policy.host_allowed(url.host):
            return
        for ip in await _addresses(url.host, url.port or 443):
            if refusal := self.policy.address_refusal(url.host, ip):
                raise _fail(Outcome.REFUSED, refusal)

    async def _read(self, response: httpx.Response, delivery: Delivery) -> None:
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.policy.max_body_bytes:
                raise _fail(
                    Outcome.TOO_LARGE,
                    f"the reply is larger than {self.policy.max_body_bytes // 1024} KiB",
                )
            chunks.append(chunk)
        delivery.body = b"".join(chunks)
        delivery.content = _content(delivery.body, delivery.content_type, response.charset_encoding)

    def _next_hop(
        self, response: httpx.Response, request: httpx.Request, given: frozenset[str]
    ) -> httpx.Request:
        """The redirect's request. To another origin, the caller's own headers stay behind."""
        hop = response.next_request or request
        if hop.url.scheme != request.url.scheme or hop.url.netloc != request.url.netloc:
            for name in given - HEADERS_KEPT_ACROSS_ORIGINS:
                hop.headers.pop(name, None)
        return hop

    async def _exchange(
        self, request: httpx.Request, delivery: Delivery, given: frozenset[str]
    ) -> None:
        for hop in range(self.policy.max_redirects + 1):
            await self._check(request.url)
            delivery.method, delivery.url = request.method, str(request.url)
            response = await self._http.send(request, stream=True)
            try:
                delivery.status = response.status_code
                delivery.reason = _reason_of(response.status_code, response.reason_phrase)
                delivery.headers = {k.lower(): v for k, v in response.headers.multi_items()}
                delivery.content_type = response.headers.get("content-type", "").split(";")[0]
                if response.next_request is None:
                    await self._read(response, delivery)
                    return
                if hop == self.policy.max_redirects:
                    raise _fail(
                        Outcome.TOO_MANY_REDIRECTS,
                        f"the webhook redirected more than {self.policy.max_redirects} times",
                    )
                request = self._next_hop(response, request, given)
                delivery.redirects.append(str(request.url))
            finally:
                await response.aclose()

    @asynccontextmanager
    async def stream(
        self, outbound: OutboundRequest, *, connect_timeout: float, read_timeout: float
    ) -> AsyncIterator[httpx.Response]:
        """Open a streamed reply, such as server-sent events, to read as it arrives; each read
        may wait `read_timeout` seconds. Redirects are not followed. Anything but a 2xx raises
        OutboundFailure, its message carrying the start of the reply's body."""
        url = httpx.URL("")
        try:
            url = httpx.URL(outbound.url)
            timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
            request = self._http.build_request(
                outbound.method,
                url,
                headers=outbound.headers,
                content=outbound.content,
                timeout=timeout,
            )
            async with asyncio.timeout(connect_timeout):
                await self._check(url)
            response = await self._http.send(request, stream=True)
        except httpx.ReadTimeout as exc:
            message = f"no answer within {read_timeout:g} seconds"
            raise _fail(Outcome.TIMEOUT, message, retryable=True) from exc
        except (TimeoutError, httpx.TimeoutException) as exc:
            message = f"could not connect within {connect_timeout:g} seconds"
            raise _fail(Outcome.TIMEOUT, message, retryable=True) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise OutboundFailure(_error_from(exc, url, self.policy)) from exc
        try:
            if not response.is_success:
                raise await self._refusal_of(response)
            yield response
        except httpx.TimeoutException as exc:
            message = f"the reply stalled for more than {read_timeout:g} seconds"
            raise _fail(Outcome.TIMEOUT, message, retryable=True) from exc
        except httpx.HTTPError as exc:
            raise OutboundFailure(_error_from(exc, url, self.policy)) from exc
        finally:
            await response.aclose()

    async def _refusal_of(self, response: httpx.Response) -> OutboundFailure:
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > 4096:
                break
        said = body[:500].decode(errors="replace").strip()
        reason = _reason_of(response.status_code, response.reason_phrase)
        message = f"it answered {response.status_code} {reason}" + (f": {said}" if said else "")
        status = response.status_code
        retryable = status in (408, 429) or status >= 500
        return OutboundFailure(OutboundError(Outcome.HTTP_ERROR, message, retryable, status, said))

    async def send(self, outbound: OutboundRequest, *, timeout: float) -> Delivery:
        """Make the request, `timeout` seconds in all. Never raises for the far end's faults."""
        delivery = Delivery(method=outbound.method, url=outbound.url)
        started = time.perf_counter()
        url = httpx.URL("")
        try:
            url = httpx.URL(outbound.url)
            request = self._http.build_request(
                outbound.method,
                url,
                headers=outbound.headers,
                content=outbound.content,
                timeout=httpx.Timeout(timeout),
            )
            async with asyncio.timeout(timeout):
                given = frozenset(name.lower() for name in outbound.headers)
                await self._exchange(request, delivery, given)
        except (TimeoutError, httpx.TimeoutException):
            delivery.error = OutboundError(
                Outcome.TIMEOUT, f"no complete reply within {timeout:g} seconds", True
            )
        except (OutboundFailure, httpx.HTTPError, httpx.InvalidURL) as exc:
            delivery.error = _error_from(exc, url, self.policy)
        except Exception as exc:  # a fault of ours or of a library: logged, never raised
            logger.exception("Outbound %s to %s failed unexpectedly", outbound.method, url.host)
            delivery.error = OutboundError(Outcome.UNREACHABLE, f"the request failed ({exc})", True)
        delivery.duration_ms = (time.perf_counter() - started) * 1000
        if delivery.error is None and delivery.status is not None and delivery.status >= 300:
            delivery.error = OutboundError(
                Outcome.HTTP_ERROR,
                f"the webhook answered {delivery.status} {delivery.reason}",
                delivery.status in (408, 425, 429) or delivery.status >= 500,
            )
        return delivery


class _LoopClients:
    """An event loop's shared clients, one per policy, closed when the loop shuts down: the
    keeper task waits until `asyncio.run` (or uvicorn, or asgiref) cancels what is left."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.clients: dict[Policy, OutboundClient] = {}
        self.keeper = loop.create_task(self._close_at_shutdown(loop))

    async def _close_at_shutdown(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            _loop_clients.pop(loop, None)
            for client in self.clients.values():
                await client.aclose()


_loop_clients: dict[asyncio.AbstractEventLoop, _LoopClients] = {}


def outbound_client(policy: Policy | None = None) -> OutboundClient:
    """The running event loop's client for `policy`, kept open while the loop runs, so that
    every call from this process reuses its connections (and TLS sessions): a new client and
    connection cost a call 1 ms more on loopback (bench/chat.py), a TLS handshake more over the
    internet. Do not close it."""
    loop = asyncio.get_running_loop()
    policy = policy or Policy.from_settings()
    shared = _loop_clients.get(loop)
    if shared is None:
        shared = _loop_clients[loop] = _LoopClients(loop)
    client = shared.clients.get(policy)
    if client is None:
        client = shared.clients[policy] = OutboundClient(policy)
    return client
