"""A small client of Agora's Conversational AI REST API (v2): join, leave, query, list, history,
speak and interrupt, for one team's project.

Every request goes through parley.outbound to settings.AGORA_API_URL, with Basic auth made of
the team's customer id and secret (never logged). A 429, 503 or 504 is tried again after a
growing pause (AGORA_RETRY_BASE_SECONDS, twice that…, AGORA_ATTEMPTS in all), honouring a
short Retry-After. Whatever still goes wrong becomes a ParleyError saying what Agora said, its
`detail` and `reason`: 502 when Agora refused or failed the request, 503 when it did not answer
or kept asking to back off."""

import asyncio
import base64
import json
import logging
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from asgiref.sync import async_to_sync
from django.conf import settings

from parley.errors import ParleyError
from parley.outbound import Delivery, OutboundClient, OutboundRequest, Policy
from parley.redact import redact

from .models import AgoraAccount

logger = logging.getLogger(__name__)

BACK_OFF = frozenset({429, 503, 504})
# The longest Retry-After honoured inside one request; longer waits are the next sync's.
MAX_RETRY_AFTER_SECONDS = 5.0
# Agora's agent states, as the list's `state` filter takes them.
STATES = {
    "IDLE": 0,
    "STARTING": 1,
    "RUNNING": 2,
    "STOPPING": 3,
    "STOPPED": 4,
    "RECOVERING": 5,
    "FAILED": 6,
}


class AgoraFailed(ParleyError):
    """Agora answered, refusing or failing the request."""

    status = 502
    code = "agora_error"


class AgoraUnavailable(ParleyError):
    """Agora did not answer in time, or kept asking Parley to back off."""

    status = 503
    code = "agora_unavailable"


class AgoraAgentExists(AgoraFailed):
    """409 on join: an agent of this name is already running."""

    code = "agora_conflict"


def _policy() -> Policy:
    """The operator chose AGORA_API_URL, so its host is exempt from the address checks (a
    proxy or a stand-in may be private); redirects are not followed with the credentials."""
    policy = Policy.from_settings()
    host = (urlsplit(settings.AGORA_API_URL).hostname or "").lower()
    return replace(policy, allowed_hosts=policy.allowed_hosts | {host}, max_redirects=0)


def _request(
    account: AgoraAccount, method: str, path: str, body: dict[str, Any] | None
) -> OutboundRequest:
    pair = f"{account.customer_id}:{account.customer_secret}".encode()
    headers = {
        "authorization": "Basic " + base64.b64encode(pair).decode(),
        "accept": "application/json",
    }
    content = None
    if body is not None:
        headers["content-type"] = "application/json"
        content = json.dumps(body).encode()
    project = quote(account.app_id, safe="")
    url = f"{settings.AGORA_API_URL.rstrip('/')}/projects/{project}{path}"
    return OutboundRequest(method, url, headers, content)


def _pause(delivery: Delivery, attempt: int) -> float:
    pause = settings.AGORA_RETRY_BASE_SECONDS * 2**attempt
    try:
        asked = float(delivery.headers.get("retry-after", ""))
    except ValueError:
        return pause
    return max(pause, min(asked, MAX_RETRY_AFTER_SECONDS))


async def _send_retrying(request: OutboundRequest) -> Delivery:
    timeout = settings.AGORA_TIMEOUT_SECONDS
    async with OutboundClient(_policy()) as client:
        delivery = await client.send(request, timeout=timeout)
        for attempt in range(1, settings.AGORA_ATTEMPTS):
            if delivery.status not in BACK_OFF:
                break
            await asyncio.sleep(_pause(delivery, attempt - 1))
            delivery = await client.send(request, timeout=timeout)
    return delivery


def _send(
    account: AgoraAccount, method: str, path: str, body: dict[str, Any] | None = None
) -> Delivery:
    return async_to_sync(_send_retrying)(_request(account, method, path, body))


def _agent_path(agent_id: str, tail: str = "") -> str:
    return f"/agents/{quote(agent_id, safe='')}{tail}"


def said(delivery: Delivery, secrets: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    """What Agora said ("<detail> (<reason>)"), and the same as details. Agora's older error
    body, {message, statusCode}, is read too. Redacted: an echo of the request would carry the
    credentials (`secrets`) and the keys in the agent's properties."""
    body = delivery.content if isinstance(delivery.content, dict) else {}
    detail = redact(str(body.get("detail") or body.get("message") or ""), secrets=secrets or [])
    reason = redact(str(body.get("reason") or body.get("statusCode") or ""), secrets=secrets or [])
    text = f"{detail} ({reason})" if detail and reason else detail or reason
    if not text and isinstance(delivery.content, str):
        text = redact(delivery.content.strip(), secrets=secrets or [])[:300]
    details = {"agora_status": delivery.status, "agora_detail": detail, "agora_reason": reason}
    return text or "no explanation", details


def _secrets(account: AgoraAccount) -> list[str]:
    return [account.customer_secret, f"{account.customer_id}:{account.customer_secret}"]


def _failure(delivery: Delivery, doing: str, secrets: list[str]) -> ParleyError:
    if delivery.status is None:
        problem = delivery.error.message if delivery.error else "no answer"
        return AgoraUnavailable(
            f"Agora did not answer while {doing} ({problem}); try again shortly.",
            details={"reason": str(delivery.error.outcome) if delivery.error else "unreachable"},
        )
    text, details = said(delivery, secrets)
    if delivery.status in BACK_OFF:
        return AgoraUnavailable(
            f"Agora answered {delivery.status} while {doing}: {text}; try again shortly.",
            details=details,
        )
    if delivery.status in (401, 403):
        return AgoraFailed(
            f"Agora refused the team's credentials while {doing} ({delivery.status}, {text}); "
            "check the customer id and secret on the Agora settings page.",
            details=details,
        )
    kind = AgoraAgentExists if delivery.status == 409 else AgoraFailed
    return kind(f"Agora answered {delivery.status} while {doing}: {text}", details=details)


def _answer(delivery: Delivery, doing: str, account: AgoraAccount) -> dict[str, Any]:
    """The JSON object Agora answered with (an empty one for an empty body); a ParleyError
    when the request failed."""
    if delivery.status is None or not 200 <= delivery.status < 300:
        failure = _failure(delivery, doing, _secrets(account))
        logger.warning("Agora request failed while %s: %s", doing, failure.message)
        raise failure
    return delivery.content if isinstance(delivery.content, dict) else {}


# Agora's REST API.


def agora_join(*, account: AgoraAccount, name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """Start an agent in a channel: {agent_id, create_ts, status}. AgoraAgentExists on 409."""
    delivery = _send(account, "POST", "/join", {"name": name, "properties": properties})
    answer = _answer(delivery, "starting the agent", account)
    if not answer.get("agent_id"):
        raise AgoraFailed(
            "Agora's answer to join had no agent_id; is AGORA_API_URL Agora's API?",
            details={"agora_status": delivery.status},
        )
    return answer


def agora_leave(*, account: AgoraAccount, agent_id: str) -> bool:
    """Stop the agent. False when Agora knows no such agent (it stopped already)."""
    delivery = _send(account, "POST", _agent_path(agent_id, "/leave"))
    if delivery.status == 404:
        return False
    _answer(delivery, f"stopping agent {agent_id}", account)
    return True


def agora_query(*, account: AgoraAccount, agent_id: str) -> dict[str, Any] | None:
    """{agent_id, status, start_ts, stop_ts, message}; None when Agora knows no such agent."""
    delivery = _send(account, "GET", _agent_path(agent_id))
    if delivery.status == 404:
        return None
    return _answer(delivery, f"reading agent {agent_id}'s status", account)


def agora_list(*, account: AgoraAccount, channel: str, states: list[str]) -> list[dict[str, Any]]:
    """The agents in `channel` whose status is one of `states` (names, such as RUNNING)."""
    query = urlencode({"channel": channel, "state": ",".join(str(STATES[s]) for s in states)})
    delivery = _send(account, "GET", f"/agents?{query}")
    answer = _answer(delivery, "listing the channel's agents", account)
    data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
    found = data.get("list") if isinstance(data, dict) else None
    return [agent for agent in found or [] if isinstance(agent, dict)]


def agora_history(*, account: AgoraAccount, agent_id: str) -> list[dict[str, Any]] | None:
    """The agent's short-term memory ([{role, content}…]), readable only while it runs; None
    when Agora no longer has it."""
    delivery = _send(account, "GET", _agent_path(agent_id, "/history"))
    if delivery.status in (400, 404):
        return None
    contents = _answer(delivery, f"reading agent {agent_id}'s history", account).get("contents")
    return [item for item in contents or [] if isinstance(item, dict)]


def agora_speak(
    *, account: AgoraAccount, agent_id: str, text: str, priority: str, interruptable: bool
) -> dict[str, Any]:
    body = {"text": text, "priority": priority, "interruptable": interruptable}
    delivery = _send(account, "POST", _agent_path(agent_id, "/speak"), body)
    return _answer(delivery, f"asking agent {agent_id} to speak", account)


def agora_interrupt(*, account: AgoraAccount, agent_id: str) -> dict[str, Any]:
    delivery = _send(account, "POST", _agent_path(agent_id, "/interrupt"), {})
    return _answer(delivery, f"interrupting agent {agent_id}", account)
