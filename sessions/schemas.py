from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema
from pydantic import ConfigDict

from config.bodies import BodyIn

from .models import Session, SessionEvent


class StartIn(BodyIn):
    """iwy's POST /start-agent-session, and what Parley's own widget adds to it."""

    model_config = ConfigDict(extra="forbid")

    agentId: UUID = Field(description="The agent to talk to.")
    mode: Literal["chat", "voice", "video"] | None = Field(
        None,
        description="Left out, as iwy's widget does: a call in a Daily room (answered with "
        "roomUrl, dailyToken and webLink; needs DAILY_API_KEY). chat: a text conversation. "
        "voice or video: a call over the transport below. An agent whose runtime is agora "
        "takes voice calls (voice, or left out, with no transport) in an Agora channel.",
    )
    transport: Literal["webrtc", "daily"] = Field(
        "webrtc",
        description="For voice and video: WebRTC straight to Parley (offerUrl), or a Daily room.",
    )


class StartOut(Schema):
    sessionId: UUID
    sessionToken: str
    type: Literal["chat"]
    firstMessage: str
    messagesUrl: str
    endUrl: str


class IceServer(Schema):
    urls: str | list[str]
    username: str | None = None
    credential: str | None = None


class CallStartOut(Schema):
    """A voice or video call over WebRTC: POST the browser's offer to offerUrl."""

    sessionId: UUID
    sessionToken: str
    type: Literal["voice", "video"]
    transport: Literal["webrtc"]
    offerUrl: str
    iceServers: list[IceServer]
    endUrl: str


class DailyStartOut(Schema):
    """iwy's answer: the Daily room and a meeting token for the person; the agent is in it."""

    roomUrl: str
    dailyToken: str
    webLink: str
    sessionId: UUID


AgentHumanType = Literal["agent_chat", "agent_voice", "agent_video", "webrtc_video"]


class AgentHumanStartIn(BodyIn):
    """Agent Human's POST /api/v1/sessions."""

    model_config = ConfigDict(extra="forbid")

    agent_id: UUID
    session_type: AgentHumanType = Field(
        "agent_chat",
        description="agent_chat: a chat. agent_voice, agent_video, webrtc_video: a call over "
        "WebRTC (send the browser's offer to offer_url).",
    )
    metadata: dict[str, Any] = Field(default_factory=dict)


class AgentHumanEndIn(BodyIn):
    model_config = ConfigDict(extra="forbid")

    duration: int | None = Field(None, ge=0, description="Seconds; worked out if left out.")
    transcript: str | None = Field(None, max_length=1_000_000)
    metadata: dict[str, Any] = Field(default_factory=dict)


class AgentHumanSession(Schema):
    session_id: UUID
    agent_id: UUID | None
    agent_name: str
    session_type: str
    status: Literal["active", "completed", "failed"]
    started_at: datetime
    ended_at: datetime | None = None
    duration: int | None = None
    transcript: str | None = None
    metadata: dict[str, Any]
    avatar_id: None = None
    avatar_name: None = None
    avatar_url: None = None
    voice_id: str | None = None


class AgentHumanOut(Schema):
    success: Literal[True] = True
    session: AgentHumanSession
    message: str
    session_token: str | None = None
    messages_url: str | None = None
    end_url: str | None = None
    first_message: str | None = None
    offer_url: str | None = None
    ice_servers: list[IceServer] | None = None


class EventOut(Schema):
    seq: int
    kind: str
    data: Any
    created_at: datetime


class SessionOut(Schema):
    id: UUID
    agent_id: UUID | None
    agent_name: str
    type: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str
    metadata: dict[str, Any]
    analysis: dict[str, Any] | None = Field(
        description="The post-call analysis, once the session has ended and its agent asks "
        "for one: status, summary, data, criteria [{name, result, reason}], error, "
        "agent_version, llm, attempts, requested_at, finished_at, duration_ms (docs/analysis.md)."
    )

    @staticmethod
    def resolve_analysis(session: Session) -> dict[str, Any] | None:
        # The analysis app's reverse relation, read by name: sessions never imports it.
        found = getattr(session, "analysis", None)
        return found.as_document() if found is not None else None


class SessionDetailOut(SessionOut):
    events: list[EventOut]

    @staticmethod
    def resolve_events(session: Session) -> list[SessionEvent]:
        return list(session.events.order_by("seq"))


class SessionFilters(Schema):
    agent_id: UUID | None = None
    status: Literal["starting", "running", "stopping", "stopped", "failed"] | None = None
    type: Literal["chat", "voice", "video"] | None = None
