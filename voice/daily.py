"""Calls in Daily rooms, for iwy's widget: a small client of Daily's REST API, and the start of a
call in a room of its own.

Each call gets a private room that expires (and ejects everyone) at the agent's
`max_duration_seconds`, and two meeting tokens for it: the person's (not an owner, camera off at
first) and the agent's, which the voice worker holding the call joins with. The agent is an
owner of the room: Parley's own process, which may need an owner's rights (ejecting, starting
Daily's transcription); the person is not, so cannot eject it. The agent's token carries
`user_id` BOT_USER_ID, which is how the presence sweep (voice.daily_sweep) tells it apart from
the people in the room.

Every request goes through parley.outbound, to settings.DAILY_API_URL with settings.DAILY_API_KEY
(never logged). Whatever goes wrong at Daily becomes a ParleyError saying what Daily said: 502
when Daily refused or failed the request, 503 when it did not answer, rate limits us, or refuses
the key."""

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from agents.configuration import AgentConfiguration
from config.celery import enqueue_on_commit
from parley.errors import ParleyError
from parley.outbound import Delivery, OutboundClient, OutboundRequest, Policy
from parley.redact import redact
from sessions.models import Session, SessionStatus, Transport
from sessions.services import session_status_set

from .signalling import worker_call

logger = logging.getLogger(__name__)

# The agent's participant in every room, as Daily's presence reports it (the token's user_id).
BOT_USER_ID = "parley-agent"
PERSON_NAME = "Guest"
# The person, the agent, and room for the person's second try while Daily still counts the
# first (a reload, a dropped connection).
MAX_PARTICIPANTS = 3
DEFAULT_TIMEOUT_SECONDS = 10.0
# Presence reads made at once by a sweep: enough to finish in about one timeout, few enough to
# stay far under Daily's rate limits.
PRESENCE_CONCURRENCY = 8


class NotConfigured(ParleyError):
    status = 503
    code = "not_configured"


class DailyFailed(ParleyError):
    """Daily answered, refusing or failing the request."""

    status = 502
    code = "daily_error"


class DailyUnavailable(ParleyError):
    """Daily did not answer in time, is rate limiting this server, or refuses its key."""

    status = 503
    code = "daily_unavailable"


@dataclass(frozen=True)
class DailyRoom:
    name: str
    url: str


def daily_check_configured() -> None:
    if not settings.DAILY_API_KEY:
        raise NotConfigured(
            "Calls through Daily need DAILY_API_KEY set on the server. Parley's own widget "
            "calls over WebRTC without it: send mode 'voice' or 'video'."
        )


# Requests.


def _timeout() -> float:
    return float(getattr(settings, "DAILY_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))


def _policy() -> Policy:
    """The operator chose DAILY_API_URL, so its host is exempt from the address checks (a
    proxy or a stand-in may be private); redirects are not followed with the key."""
    policy = Policy.from_settings()
    host = (urlsplit(settings.DAILY_API_URL).hostname or "").lower()
    return replace(policy, allowed_hosts=policy.allowed_hosts | {host}, max_redirects=0)


def _request(method: str, path: str, body: dict[str, Any] | None = None) -> OutboundRequest:
    headers = {"authorization": f"Bearer {settings.DAILY_API_KEY}", "accept": "application/json"}
    content = None
    if body is not None:
        headers["content-type"] = "application/json"
        content = json.dumps(body).encode()
    return OutboundRequest(method, settings.DAILY_API_URL.rstrip("/") + path, headers, content)


async def _send_one(request: OutboundRequest) -> Delivery:
    async with OutboundClient(_policy()) as client:
        return await client.send(request, timeout=_timeout())


def _send(method: str, path: str, body: dict[str, Any] | None = None) -> Delivery:
    return async_to_sync(_send_one)(_request(method, path, body))


def _room_path(room_name: str, tail: str = "") -> str:
    return f"/rooms/{quote(room_name, safe='')}{tail}"


def _said(delivery: Delivery) -> tuple[str, dict[str, Any]]:
    """What Daily said ("invalid-request-error: …"), and the same as details."""
    body = delivery.content if isinstance(delivery.content, dict) else {}
    error, info = str(body.get("error") or ""), str(body.get("info") or "")
    # Daily's words are shown and logged: an echo of the request must not carry the key along.
    key = [settings.DAILY_API_KEY]
    error, info = redact(error, secrets=key), redact(info, secrets=key)
    said = ": ".join(part for part in (error, info) if part)
    if not said and isinstance(delivery.content, str):
        said = redact(delivery.content.strip(), secrets=key)[:300]
    details = {"daily_status": delivery.status, "daily_error": error, "daily_info": info}
    return said or "no explanation", details


def _failure(delivery: Delivery, doing: str) -> ParleyError:
    """The ParleyError for a request that did not succeed; `doing`: "creating the room"."""
    if delivery.status is None:
        problem = delivery.error.message if delivery.error else "no answer"
        outcome = str(delivery.error.outcome) if delivery.error else "unreachable"
        return DailyUnavailable(
            f"Daily did not answer while {doing} ({problem}); try again shortly.",
            details={"reason": outcome},
        )
    said, details = _said(delivery)
    status = delivery.status
    if status in (401, 403):
        return DailyUnavailable(
            f"Daily refused this server's DAILY_API_KEY while {doing} ({status}, {said}); "
            "the operator should check the key in the Developers section of Daily's dashboard.",
            details=details | {"reason": "key_refused"},
        )
    if status == 429:
        return DailyUnavailable(
            f"Daily is limiting this server's requests ({said}); try again shortly.",
            details=details | {"reason": "rate_limited"},
        )
    return DailyFailed(f"Daily answered {status} while {doing}: {said}", details=details)


def _answer(delivery: Delivery, doing: str, *, needs: str) -> dict[str, Any]:
    """The JSON object Daily answered with; a ParleyError when it failed, or when the object
    lacks `needs`."""
    if delivery.status is None or not 200 <= delivery.status < 300:
        failure = _failure(delivery, doing)
        logger.warning("Daily request failed while %s: %s", doing, failure.message)
        raise failure
    body = delivery.content
    if not isinstance(body, dict) or needs not in body:
        raise DailyFailed(
            f"Daily's answer while {doing} had no {needs!r}; is DAILY_API_URL Daily's API?",
            details={"daily_status": delivery.status},
        )
    return body


# Daily's REST API.


def daily_room_create(*, name: str, exp: int) -> DailyRoom:
    """A private room that expires at `exp` (a Unix time), ejecting whoever is still in it."""
    body = {
        "name": name,
        "privacy": "private",
        "properties": {
            "exp": exp,
            "eject_at_room_exp": True,
            "max_participants": MAX_PARTICIPANTS,
            "enable_prejoin_ui": False,
            "enable_chat": False,
        },
    }
    room = _answer(_send("POST", "/rooms", body), "creating the room", needs="url")
    return DailyRoom(name=str(room.get("name") or name), url=str(room["url"]))


def daily_token_create(
    *, room_name: str, exp: int, user_name: str, owner: bool, user_id: str = ""
) -> str:
    """A meeting token for one room, valid (and keeping its holder in) until `exp`."""
    properties: dict[str, Any] = {
        "room_name": room_name,
        "exp": exp,
        "eject_at_token_exp": True,
        "is_owner": owner,
        "user_name": user_name[:100],
    }
    if user_id:
        properties["user_id"] = user_id
    if not owner:
        properties["start_video_off"] = True  # the agent need not see the person
    delivery = _send("POST", "/meeting-tokens", {"properties": properties})
    return str(_answer(delivery, "creating a meeting token", needs="token")["token"])


def _presence_of(delivery: Delivery, room_name: str) -> list[dict[str, Any]] | None:
    if delivery.status == 404:
        return None
    data = _answer(delivery, f"reading who is in room {room_name}", needs="data")["data"]
    return [person for person in data if isinstance(person, dict)] if isinstance(data, list) else []


def daily_presence(*, room_name: str) -> list[dict[str, Any]] | None:
    """Who is in the room now, as Daily's presence reports them ({id, userId, userName,
    joinTime, …}); None when Daily knows no such room (deleted, or expired)."""
    return _presence_of(_send("GET", _room_path(room_name, "/presence")), room_name)


async def _presences(names: list[str]) -> list[Delivery]:
    gate = asyncio.Semaphore(PRESENCE_CONCURRENCY)
    async with OutboundClient(_policy()) as client:

        async def one(name: str) -> Delivery:
            async with gate:
                request = _request("GET", _room_path(name, "/presence"))
                return await client.send(request, timeout=_timeout())

        return list(await asyncio.gather(*(one(name) for name in names)))


def daily_presences(
    *, room_names: list[str]
) -> dict[str, list[dict[str, Any]] | ParleyError | None]:
    """daily_presence for many rooms at once; a room whose read failed maps to its error."""
    found: dict[str, list[dict[str, Any]] | ParleyError | None] = {}
    for name, delivery in zip(room_names, async_to_sync(_presences)(room_names), strict=True):
        try:
            found[name] = _presence_of(delivery, name)
        except ParleyError as exc:
            found[name] = exc
    return found


def daily_room_delete(*, room_name: str) -> bool:
    """Delete the room, ejecting whoever is in it. False when Daily knows no such room (deleted
    already, or expired): as good as deleted."""
    delivery = _send("DELETE", _room_path(room_name))
    if delivery.status == 404:
        return False
    _answer(delivery, f"deleting room {room_name}", needs="deleted")
    return True


# Sessions' rooms.


@transaction.atomic
def daily_remote_merge(*, session_id: Any, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge `changes` into the session's `remote` under its row lock (a key set to None is
    removed), so that the sweep and the end of a call do not overwrite each other."""
    locked = Session.objects.select_for_update().only("remote").get(pk=session_id)
    remote = {**(locked.remote or {}), **changes}
    remote = {key: value for key, value in remote.items() if value is not None}
    Session.objects.filter(pk=session_id).update(remote=remote)
    return remote


def daily_room_release(*, session: Session, now: datetime | None = None) -> bool:
    """Delete the session's room and record when (a room Daily no longer knows counts as
    deleted). False, and logged, when Daily failed: the sweep tries again."""
    remote = session.remote or {}
    room_name = str(remote.get("room_name") or "")
    if not room_name or "deleted_at" in remote:
        return True
    try:
        daily_room_delete(room_name=room_name)
    except ParleyError as exc:
        logger.warning("Could not delete Daily room %s: %s", room_name, exc.message)
        return False
    deleted_at = (now or timezone.now()).isoformat()
    session.remote = daily_remote_merge(session_id=session.pk, changes={"deleted_at": deleted_at})
    return True


def daily_room_release_later(session: Session) -> None:
    """When a call ends: queue the deletion of its Daily room, if it has one, for once the
    transaction commits. Nothing for other sessions. The sweep deletes what this misses."""
    remote = session.remote or {}
    if session.transport != Transport.DAILY or not remote.get("room_name"):
        return
    if "deleted_at" in remote:
        return
    from .daily_tasks import delete_daily_room

    enqueue_on_commit(delete_daily_room, str(session.pk))


# Starting a call.


def _start_failed(session: Session, exc: BaseException) -> None:
    """Mark the session failed and take its room down again."""
    message = exc.message if isinstance(exc, ParleyError) else "an unexpected error"
    reason = f"The Daily call could not start: {message}"[:200]
    with contextlib.suppress(ParleyError):  # it ended meanwhile
        session_status_set(session=session, status=SessionStatus.FAILED, reason=reason)
    session.refresh_from_db(fields=["remote"])
    daily_room_release(session=session)


def _room_open(session: Session, config: AgentConfiguration) -> tuple[DailyRoom, str, str]:
    """Create the room and both tokens; the room is recorded on the session at once, so that
    it is deleted whatever fails next."""
    exp = int(timezone.now().timestamp()) + config.max_duration_seconds
    room = daily_room_create(name=f"parley-{session.id.hex}", exp=exp)
    remote = {"room_name": room.name, "room_url": room.url}
    Session.objects.filter(pk=session.pk).update(transport=Transport.DAILY, remote=remote)
    session.transport, session.remote = Transport.DAILY, remote
    person = daily_token_create(room_name=room.name, exp=exp, user_name=PERSON_NAME, owner=False)
    bot = daily_token_create(
        room_name=room.name, exp=exp, user_name=session.agent_name, owner=True, user_id=BOT_USER_ID
    )
    return room, person, bot


def daily_session_start(*, session: Session, request: HttpRequest) -> dict[str, Any]:
    """Open a Daily room for the session, have a voice worker's agent join it, and hand the
    person their way in: the room and their token, and a link to Daily's own page that joins
    with it. Anything failing marks the session failed, deletes the room, and is raised."""
    from .services import session_place  # voice.services imports this module

    try:
        daily_check_configured()
        document = session.agent.configuration if session.agent is not None else {}
        room, person, bot = _room_open(session, AgentConfiguration.model_validate(document))
        worker = session_place(session=session, transport=Transport.DAILY)
        payload = {"room_url": room.url, "token": bot}
        timeout = settings.VOICE_OFFER_TIMEOUT_SECONDS
        worker_call(
            worker=worker, session=session, action="daily", payload=payload, timeout=timeout
        )
    except Exception as exc:
        _start_failed(session, exc)
        raise
    return {
        "roomUrl": room.url,
        "dailyToken": person,
        "webLink": f"{room.url}?t={person}",
        "sessionId": session.id,
    }
