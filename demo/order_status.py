"""The demo's order-status tool, answered by Parley itself.

The demo agent's tool is an ordinary webhook tool, whose URL names no server:
https://demo.parley.invalid/order-status. `.invalid` is reserved never to resolve (RFC 6761), so
no real webhook can live there. The webhook engine hands every request for that host to
`demo_reply` (tools.in_process), in the process making the call, which answers from the canned
orders below. So the tool works offline, in the async server and in a worker alike, with no route to
serve and nothing opened in the outbound policy: no request leaves the process. Pointed at a
real webhook, the same tool calls it like any other (docs/demo.md)."""

import json
import time
from typing import Any

import httpx

from parley.outbound import Delivery, OutboundError, OutboundRequest, Outcome

HOST = "demo.parley.invalid"
PATH = "/order-status"
ORDER_STATUS_URL = f"https://{HOST}{PATH}"

ORDERS: dict[str, dict[str, str]] = {
    "A-1042": {
        "status": "shipped",
        "item": "Acme Trail 29 mountain bike",
        "carrier": "ParcelPost",
        "delivery": "expected within 2 working days",
    },
    "A-1043": {
        "status": "ready for pickup",
        "item": "City Cruiser 7-speed",
        "pickup": "at the shop, during opening hours, with the order number",
    },
    "A-1044": {
        "status": "being assembled",
        "item": "Kids' balance bike",
        "ready": "in 3 working days",
    },
}


def _order_number(content: bytes | None) -> str:
    """The order number of the call's parameters ({"parameters": {"order_number": …}}), as the
    shop writes them: "a-1042" and "1042" are A-1042."""
    try:
        parameters = json.loads(content or b"{}").get("parameters")
    except (ValueError, AttributeError):
        return ""
    number = parameters.get("order_number") if isinstance(parameters, dict) else None
    number = str(number or "").strip().upper()
    return f"A-{number}" if number.isdigit() else number


def _answer(request: OutboundRequest, path: str) -> tuple[int, dict[str, Any]]:
    if path != PATH:
        return 404, {"error": f"There is nothing at {path}; this demo answers {PATH} only."}
    if request.method != "POST":
        return 405, {"error": "Send the order number in a POST, as a tool's call does."}
    number = _order_number(request.content)
    if not number:
        return 400, {"error": "Give the order number, such as A-1042, as order_number."}
    if number not in ORDERS:
        return 404, {"error": f"There is no order {number}. Order numbers look like A-1042."}
    return 200, {"order_number": number} | ORDERS[number]


def demo_reply(request: OutboundRequest) -> Delivery:
    """The reply to `request`, a call to the demo's host, as a webhook's would be recorded
    (registered with tools.in_process by DemoConfig.ready)."""
    url = httpx.URL(request.url)
    started = time.perf_counter()
    status, payload = _answer(request, url.path)
    body = json.dumps(payload).encode()
    reason = httpx.codes.get_reason_phrase(status)
    delivery = Delivery(
        method=request.method,
        url=request.url,
        status=status,
        reason=reason,
        headers={"content-type": "application/json", "content-length": str(len(body))},
        body=body,
        content_type="application/json",
        content=payload,
    )
    if status >= 300:  # as OutboundClient.send reports a webhook's refusal
        message = f"the webhook answered {status} {reason}"
        delivery.error = OutboundError(Outcome.HTTP_ERROR, message, retryable=False)
    delivery.duration_ms = (time.perf_counter() - started) * 1000
    return delivery
