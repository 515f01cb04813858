"""Sessions in the API: iwy's POST /v1/start-agent-session, the session list and detail under
/v1, and Agent Human's session API under /api/v1 (start and end; sending a message is the async
view in sessions.streaming)."""

from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from asgiref.sync import async_to_sync
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router
from ninja.pagination import paginate
from ninja.security import HttpBearer

from agents.models import Agent, Runtime
from agora.schemas import AgoraStartOut
from agora.services import agora_session_start, agora_start_check
from config.addresses import async_base, async_url
from teams.auth import READ, WRITE, ApiRequest, Caller
from teams.models import Team
from voice.daily import daily_session_start
from voice.services import call_check, call_start, call_type

from . import access
from .chat import session_open
from .limits import client_ip
from .models import Channel, Session, SessionStatus, SessionType, Transport
from .schemas import (
    AgentHumanEndIn,
    AgentHumanOut,
    AgentHumanStartIn,
    CallStartOut,
    DailyStartOut,
    SessionDetailOut,
    SessionFilters,
    SessionOut,
    StartIn,
    StartOut,
)
from .services import session_end, session_ending
from .tokens import session_token_issue

router = Router(tags=["Sessions"])
agent_human_router = Router(tags=["Sessions (Agent Human)"])

AGENT_HUMAN_TYPES = {
    "agent_chat": SessionType.CHAT,
    "agent_voice": SessionType.VOICE,
    "agent_video": SessionType.VIDEO,
    "webrtc_video": SessionType.VIDEO,
}
AGENT_HUMAN_NAMES = {
    SessionType.CHAT: "agent_chat",
    SessionType.VOICE: "agent_voice",
    SessionType.VIDEO: "agent_video",
}
AGENT_HUMAN_STATUS = {"stopped": "completed", "failed": "failed"}


@dataclass(frozen=True)
class Nobody:
    """A caller without a key: may start sessions with published agents, nothing else."""


@dataclass(frozen=True)
class TokenHolder:
    token: str


class SessionTokenAuth(HttpBearer):
    """`Authorization: Bearer st_…`: the token a session's start handed out."""

    def __call__(self, request: HttpRequest) -> TokenHolder | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip().startswith("st_"):
            return None
        return TokenHolder(token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> TokenHolder | None:
        return TokenHolder(token)


def _anyone(request: HttpRequest) -> Nobody:
    return Nobody()


ANYONE: list[Any] = [*READ, _anyone]
KEY_OR_TOKEN: list[Any] = [SessionTokenAuth(), *WRITE]
VERSION_HELP = (
    "The number of the agent's version to run instead of the published one: the dashboard's "
    "test call of a draft or an older version. Only a signed-in member of the agent's team may "
    "ask for one (403 otherwise)."
)


def _channel(*, by_key: bool, own_page: bool, origin: str) -> Channel:
    """For analytics: a key is the API; Parley's own pages are the hosted page (and the
    dashboard's test call); another site's page is the widget; no origin and no key, a script."""
    if by_key:
        return Channel.API
    if own_page:
        return Channel.HOSTED
    return Channel.WIDGET if origin else Channel.API


def _starter(request: HttpRequest, caller: Any) -> access.Starter:
    team = caller.team if isinstance(caller, Caller) else None
    by_key = isinstance(caller, Caller) and caller.api_key is not None
    origin = request.headers.get("Origin", "")
    own_page = origin == f"{request.scheme}://{request.get_host()}"
    if own_page:
        origin = ""  # Parley's own pages (the hosted page, the test call): not an embedding site
    return access.Starter(
        team=team,
        origin=origin,
        client_ip=client_ip(request),
        by_key=by_key,
        channel=_channel(by_key=by_key, own_page=own_page, origin=origin),
        # A signed-in viewer may run the dashboard's test call; a read-only key starts nothing.
        can_write=not by_key or caller.can_write,
    )


def _url(request: HttpRequest, name: str, session: Session) -> str:
    return async_url(request, name, session.id)


def _started(request: HttpRequest, session: Session) -> dict[str, Any]:
    first = async_to_sync(session_open)(session=session)
    return {
        "session_token": session_token_issue(session_id=session.id),
        "messages_url": _url(request, "session_messages", session),
        "end_url": _url(request, "agenthuman:session_end", session),
        "first_message": first,
    }


@router.post(
    "/start-agent-session",
    response=StartOut | CallStartOut | DailyStartOut | AgoraStartOut,
    auth=ANYONE,
    operation_id="session_start",
)
def session_start(
    request: HttpRequest,
    payload: StartIn,
    version: int | None = Query(None, ge=1, description=VERSION_HELP),
) -> dict[str, Any]:
    """Start a session with an agent (iwy's contract). No key is needed for private and
    public agents; a draft agent needs its team's key (or a signed-in member). A key speaks
    for its own team's agents only, and a read-only key starts nothing. `{agentId}`
    alone is iwy's widget: a call in a Daily room. Parley's widget says `mode`. An agent whose
    runtime is agora takes voice calls (`mode` voice, or left out) in an Agora channel, unless
    a `transport` is asked for."""
    starter = _starter(request, getattr(request, "auth", None))
    if _on_agora(payload):
        return _agora_start(request, payload, starter, version)
    if payload.mode != "chat":
        return _call_start(request, payload, starter, version)
    session = access.session_start(agent_id=payload.agentId, starter=starter, version=version)
    started = _started(request, session)
    return {
        "sessionId": session.id,
        "sessionToken": started["session_token"],
        "type": "chat",
        "firstMessage": started["first_message"],
        "messagesUrl": started["messages_url"],
        "endUrl": started["end_url"],
    }


def _call_start(
    request: HttpRequest, payload: StartIn, starter: access.Starter, version: int | None
) -> dict[str, Any]:
    transport = Transport.DAILY if payload.mode is None else Transport(payload.transport)
    kind = SessionType(payload.mode) if payload.mode else call_type(agent_id=payload.agentId)
    session = access.session_start(
        agent_id=payload.agentId,
        starter=starter,
        type=kind,
        version=version,
        check=lambda agent, config: call_check(agent=agent, config=config, transport=transport),
    )
    if transport == Transport.DAILY:
        return daily_session_start(session=session, request=request)
    return call_start(session=session, request=request)


def _on_agora(payload: StartIn) -> bool:
    """A voice call (or iwy's `{agentId}` alone) with an agent whose runtime is agora, and no
    transport asked for: Parley's widget asks for webrtc, and gets Parley's own pipeline."""
    if payload.mode not in (None, "voice") or "transport" in payload.model_fields_set:
        return False
    return Agent.objects.filter(id=payload.agentId, runtime=Runtime.AGORA).exists()


def _agora_start(
    request: HttpRequest, payload: StartIn, starter: access.Starter, version: int | None
) -> dict[str, Any]:
    """A voice call through Agora's engine, with Parley as the agent's LLM."""
    session = access.session_start(
        agent_id=payload.agentId,
        starter=replace(starter, channel=Channel.REMOTE),
        type=SessionType.VOICE,
        version=version,
        check=agora_start_check,
    )
    started = agora_session_start(session=session, public_base=async_base(request))
    return started | {
        "sessionToken": session_token_issue(session_id=session.id),
        "endUrl": _url(request, "agenthuman:session_end", session),
    }


@router.get("/sessions", response=list[SessionOut], auth=READ, operation_id="session_list")
@paginate
def session_list(request: ApiRequest, filters: Query[SessionFilters]) -> QuerySet[Session]:
    sessions = Session.objects.filter(team=request.auth.team).order_by("-started_at", "-id")
    sessions = sessions.select_related("analysis__agent_version").defer(
        "analysis__agent_version__configuration", "analysis__agent_version__tools"
    )
    for field in ("agent_id", "status", "type"):
        if (value := getattr(filters, field)) is not None:
            sessions = sessions.filter(**{field: value})
    return sessions


@router.get(
    "/sessions/{session_id}", response=SessionDetailOut, auth=READ, operation_id="session_get"
)
def session_get(request: ApiRequest, session_id: UUID) -> Session:
    return access.session_for_caller(session_id=session_id, team=request.auth.team, token=None)


def _agent_human(session: Session, **extra: Any) -> dict[str, Any]:
    voice = (session.agent.configuration or {}).get("tts", {}) if session.agent else {}
    duration = None
    if session.ended_at:
        duration = int((session.ended_at - session.started_at).total_seconds())
    return {
        "session_id": session.id,
        "agent_id": session.agent_id,
        "agent_name": session.agent_name,
        "session_type": AGENT_HUMAN_NAMES.get(SessionType(session.type), str(session.type)),
        "status": AGENT_HUMAN_STATUS.get(session.status, "active"),
        "started_at": session.started_at,
        "ended_at": session.ended_at,
        "duration": duration,
        "metadata": session.metadata,
        "voice_id": voice.get("voice_id") or None,
        **extra,
    }


@agent_human_router.post(
    "/sessions", response=AgentHumanOut, auth=WRITE, operation_id="agent_human_session_start"
)
def agent_human_session_start(request: ApiRequest, payload: AgentHumanStartIn) -> dict[str, Any]:
    """Start a session (Agent Human's contract): agent_chat is a chat; agent_voice, agent_video
    and webrtc_video are calls over WebRTC, whose offer goes to `offer_url`."""
    kind = AGENT_HUMAN_TYPES[payload.session_type]
    starter = _starter(request, request.auth)
    if kind == SessionType.CHAT:
        session = access.session_start(
            agent_id=payload.agent_id, starter=starter, type=kind, metadata=payload.metadata
        )
        started = _started(request, session)
    else:
        session = access.session_start(
            agent_id=payload.agent_id,
            starter=starter,
            type=kind,
            metadata=payload.metadata,
            check=lambda agent, config: call_check(
                agent=agent, config=config, transport=Transport.WEBRTC
            ),
        )
        call = call_start(session=session, request=request)
        started = {
            "session_token": call["sessionToken"],
            "offer_url": call["offerUrl"],
            "ice_servers": call["iceServers"],
            "end_url": call["endUrl"],
        }
    session.refresh_from_db()
    return {"session": _agent_human(session), "message": "Session started successfully"} | started


def _team_or_token(request: HttpRequest) -> tuple[Team | None, str | None]:
    auth = getattr(request, "auth", None)
    if isinstance(auth, TokenHolder):
        return None, auth.token
    return (auth.team if isinstance(auth, Caller) else None), None


@agent_human_router.put(
    "/sessions/{session_id}/end",
    response=AgentHumanOut,
    auth=KEY_OR_TOKEN,
    operation_id="agent_human_session_end",
)
@agent_human_router.post(
    "/sessions/{session_id}/end",
    response=AgentHumanOut,
    auth=KEY_OR_TOKEN,
    operation_id="agent_human_session_end_post",
    url_name="session_end",
)
def agent_human_session_end(
    request: HttpRequest, session_id: UUID, payload: AgentHumanEndIn
) -> dict[str, Any]:
    """End the session: status `completed`. The end's `metadata` is merged into the session's
    (as Agent Human answers it); the `duration` and `transcript` sent, or else worked out, are
    what every later end of the same session answers too: ending it again changes nothing."""
    team, token = _team_or_token(request)
    session = access.session_for_caller(session_id=session_id, team=team, token=token)
    reason = str(payload.metadata.get("end_reason") or "ended by the client")
    sent = payload.model_dump(include={"duration", "transcript"}, exclude_none=True)
    session, _ = session_end(session=session, reason=reason, metadata=payload.metadata, sent=sent)
    ending = session_ending(session=session)
    shape = _agent_human(session, transcript=ending.transcript)
    shape["duration"] = ending.duration
    return {"session": shape, "message": "Session ended successfully"}


__all__ = ["SessionStatus", "agent_human_router", "router"]
