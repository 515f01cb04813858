"""Webhooks that Parley answers itself: an app may claim a host under `.invalid`, which is
reserved never to resolve (RFC 6761), and answer the calls to it in the calling process. The
demo workspace's order-status tool works offline this way (demo/, docs/demo.md); the outbound
policy stays as it is, since nothing is sent. The tools app knows no such app by name: each
registers its host when Django starts (its AppConfig.ready)."""

from collections.abc import Callable

import httpx

from parley.outbound import Delivery, OutboundRequest

Answerer = Callable[[OutboundRequest], Delivery]

_ANSWERERS: dict[str, Answerer] = {}


def in_process_register(*, host: str, answerer: Answerer) -> None:
    """Answer every call to `host` with `answerer`, in the process making it."""
    if not host.endswith(".invalid"):
        raise ValueError(f"{host!r} could resolve: only hosts under .invalid are answered here")
    _ANSWERERS[host] = answerer


def in_process_reply(request: OutboundRequest) -> Delivery | None:
    """The registered answer to `request`; None when its host is not claimed, or its URL is
    malformed (the outbound client explains what is wrong with it)."""
    try:
        host = httpx.URL(request.url).host
    except httpx.InvalidURL:
        return None
    answerer = _ANSWERERS.get(host)
    return answerer(request) if answerer is not None else None
