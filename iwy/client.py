"""A small client of iwy's REST API (settings.IWY_API_URL), with a team's Service API key.

Every request goes through parley.outbound. The key is sent as a Bearer token and never logged
nor shown, even when iwy echoes it (parley.redact).
Whatever goes wrong at iwy becomes an IwyError saying what iwy said (502 when iwy refused or
failed, 503 when it did not answer or limits requests, 422 when it refused the input), and
whether trying again later may help (429, 5xx, no answer): the sync tasks retry those."""

import json
import logging
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlsplit

from asgiref.sync import async_to_sync
from django.conf import settings

from parley.errors import ParleyError
from parley.outbound import Delivery, OutboundClient, OutboundRequest, Policy
from parley.redact import redact

logger = logging.getLogger(__name__)

SAID_MAX = 300


class IwyError(ParleyError):
    """iwy did not do what was asked. `retryable`: trying again later may help (iwy failed)."""

    status = 502
    code = "iwy_error"
    retryable = False

    def __init__(
        self, message: str, *, details: dict[str, Any] | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message, details=details)
        self.retryable = retryable or type(self).retryable


class IwyRejected(IwyError):
    """iwy refused what was sent as not valid (400, 422): the input, said in iwy's words."""

    status = 422
    code = "iwy_rejected"


class IwyNotFound(IwyError):
    """iwy knows no such agent or tool (deleted on iwy, or another account's)."""

    code = "iwy_not_found"


class IwyUnavailable(IwyError):
    """iwy did not answer in time, or is limiting this account's requests (429)."""

    status = 503
    code = "iwy_unavailable"
    retryable = True


def _policy() -> Policy:
    """The operator chose IWY_API_URL, so its host is exempt from the address checks (a proxy
    or a stand-in may be private); redirects are not followed with the key."""
    policy = Policy.from_settings()
    host = (urlsplit(settings.IWY_API_URL).hostname or "").lower()
    return replace(policy, allowed_hosts=policy.allowed_hosts | {host}, max_redirects=0)


def _request(api_key: str, method: str, path: str, body: Any = None) -> OutboundRequest:
    headers = {"authorization": f"Bearer {api_key}", "accept": "application/json"}
    content = None
    if body is not None:
        headers["content-type"] = "application/json"
        content = json.dumps(body).encode()
    return OutboundRequest(method, settings.IWY_API_URL.rstrip("/") + path, headers, content)


async def _send_one(request: OutboundRequest) -> Delivery:
    async with OutboundClient(_policy()) as client:
        return await client.send(request, timeout=settings.IWY_TIMEOUT_SECONDS)


def _said(delivery: Delivery) -> str:
    """What iwy said about a failure. Its error body is not documented: the usual keys."""
    body = delivery.content
    if isinstance(body, dict):
        for key in ("message", "error", "detail", "details"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if isinstance(value, str | list) and value:
                return str(value)[:SAID_MAX]
    if isinstance(body, str) and body.strip():
        return body.strip()[:SAID_MAX]
    return delivery.reason or "no explanation"


def _failure(delivery: Delivery, doing: str, api_key: str) -> IwyError:
    if delivery.status is None:
        problem = delivery.error.message if delivery.error else "no answer"
        return IwyUnavailable(f"iwy did not answer while {doing} ({problem}); try again shortly.")
    # iwy's words are shown and logged: an echo of the request must not carry the key along.
    said, status = redact(_said(delivery), secrets=[api_key]), delivery.status
    details = {"iwy_status": status, "iwy_message": said}
    if status in (401, 403):
        return IwyError(
            f"iwy refused the team's API key while {doing} ({status}: {said}); replace the key "
            "on the iwy page (Settings → iwy).",
            details=details,
        )
    if status == 404:
        return IwyNotFound(f"iwy has no such object ({doing}): {said}", details=details)
    if status in (400, 422):
        return IwyRejected(f"iwy refused this while {doing}: {said}", details=details)
    if status in (408, 425, 429):
        return IwyUnavailable(
            f"iwy is limiting requests ({status}) while {doing}: {said}; try again shortly.",
            details=details,
        )
    if status >= 500:
        return IwyError(
            f"iwy failed ({status}) while {doing}: {said}", details=details, retryable=True
        )
    return IwyError(f"iwy answered {status} while {doing}: {said}", details=details)


def iwy_call(
    *, api_key: str, method: str, path: str, doing: str, body: Any = None
) -> dict[str, Any]:
    """The JSON object iwy answered with; an IwyError when it did not succeed. `doing` says
    what was being done, for the message ("publishing the agent")."""
    delivery = async_to_sync(_send_one)(_request(api_key, method, path, body))
    if delivery.status is None or not 200 <= delivery.status < 300:
        failure = _failure(delivery, doing, api_key)
        logger.warning("iwy %s %s failed: %s", method, path, failure.message)
        raise failure
    if not isinstance(delivery.content, dict):
        raise IwyError(
            f"iwy's answer while {doing} was not a JSON object; is IWY_API_URL iwy's API?",
            details={"iwy_status": delivery.status},
        )
    return delivery.content


def _object(answer: dict[str, Any], doing: str) -> dict[str, Any]:
    """An agent or tool object: iwy's own, or wrapped as {"agent": …} / {"tool": …}."""
    for key in ("agent", "tool", "data"):
        if isinstance(answer.get(key), dict) and "id" in answer[key]:
            return dict(answer[key])
    if "id" not in answer:
        raise IwyError(f"iwy's answer while {doing} had no id.")
    return answer


def iwy_create(*, api_key: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /agent or /tool: the created object."""
    doing = f"publishing the {kind}"
    return _object(
        iwy_call(api_key=api_key, method="POST", path=f"/{kind}", doing=doing, body=body), doing
    )


def iwy_get(*, api_key: str, kind: str, remote_id: str) -> dict[str, Any]:
    doing = f"reading the {kind} {remote_id}"
    path = f"/{kind}/{quote(remote_id, safe='')}"
    return _object(iwy_call(api_key=api_key, method="GET", path=path, doing=doing), doing)


def iwy_patch(
    *, api_key: str, kind: str, remote_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """PATCH only the fields in `changes`: iwy leaves the others as they are."""
    doing = f"updating the {kind} {remote_id}"
    path = f"/{kind}/{quote(remote_id, safe='')}"
    answer = iwy_call(api_key=api_key, method="PATCH", path=path, doing=doing, body=changes)
    return _object(answer, doing)


def iwy_ephemeral_create(
    *, api_key: str, configuration: dict[str, Any], ttl_seconds: int, metadata: dict[str, Any]
) -> dict[str, Any]:
    """POST /ephemeral-agent: iwy's {"agent": {id, expires_at, created_at}}."""
    body = {"configuration": configuration, "ttl_seconds": ttl_seconds, "metadata": metadata}
    doing = "minting a single-use agent"
    answer = iwy_call(
        api_key=api_key, method="POST", path="/ephemeral-agent", doing=doing, body=body
    )
    agent = answer.get("agent")
    if not isinstance(agent, dict) or not agent.get("id"):
        raise IwyError(f"iwy's answer while {doing} had no agent id.")
    return agent
