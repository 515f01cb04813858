from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema
from pydantic import ConfigDict

from config.bodies import BodyIn

from .configuration import AgentConfiguration

PublishStatusIn = Literal["draft", "private", "public"]
RuntimeIn = Literal["parley", "agora"]
RUNTIME_HELP = (
    "Where the agent's calls run: parley (Parley's own voice pipeline) or agora (Agora's "
    "Conversational AI engine, with this agent as its LLM; needs the team's Agora credentials)."
)
Name = Field(min_length=1, max_length=200)


class AgentIn(BodyIn):
    model_config = ConfigDict(extra="forbid")

    name: str = Name
    publish_status: PublishStatusIn = "draft"
    runtime: RuntimeIn = Field("parley", description=RUNTIME_HELP)
    configuration: AgentConfiguration = Field(default_factory=AgentConfiguration)
    metadata: dict[str, Any] = Field(default_factory=dict)


class AgentPatch(BodyIn):
    """Only the fields sent change. `configuration` is a JSON Merge Patch (RFC 7396)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    publish_status: PublishStatusIn | None = None
    runtime: RuntimeIn | None = Field(None, description=RUNTIME_HELP)
    configuration: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class EphemeralAgentIn(BodyIn):
    model_config = ConfigDict(extra="forbid")

    configuration: AgentConfiguration
    ttl_seconds: int = Field(300, ge=60, le=86_400, description="Lifetime in seconds.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    name: str = Field("", max_length=200)


class AgentOut(Schema):
    id: UUID
    user_id: UUID | None = Field(None, validation_alias="created_by_id")
    name: str
    publish_status: str
    kind: Literal["permanent", "single_use"]
    runtime: RuntimeIn
    expires_at: datetime | None
    configuration: dict[str, Any]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class EphemeralAgentRef(Schema):
    id: UUID
    expires_at: datetime
    created_at: datetime


class EphemeralAgentOut(Schema):
    agent: EphemeralAgentRef
