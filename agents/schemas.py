from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema
from pydantic import ConfigDict

from config.bodies import BodyIn

from .configuration import AgentConfiguration
from .models import Agent, AgentVersion

PublishStatusIn = Literal["draft", "private", "public"]
RuntimeIn = Literal["parley", "agora"]
PublishModeIn = Literal["immediate", "review"]
PUBLISH_MODE_HELP = (
    "When a saved change reaches live traffic: immediate (every save is published at once) or "
    "review (a change of the configuration is a draft version until it is published)."
)
BASE_VERSION_HELP = (
    "The version number your change starts from (the agent's draft_version, or its "
    "published_version when it has no draft). If the agent has a newer version, nothing is "
    "saved and the answer is 409. Left out, the change merges into the newest version."
)
RUNTIME_HELP = (
    "Where the agent's calls run: parley (Parley's own voice pipeline) or agora (Agora's "
    "Conversational AI engine, with this agent as its LLM; needs the team's Agora credentials)."
)
Name = Field(min_length=1, max_length=200)
# The schema's own default for llm.provider is what a PATCH that removes it restores; a new agent
# naming none gets the team's usual one (agents.services.agent_llm_default), said here for /v1/docs.
CONFIGURATION_HELP = (
    "The agent's configuration. Without llm.provider, a new agent gets openai (model "
    "gpt-4o-mini) where the team can use OpenAI, its own key or the operator's, else local "
    "(model local), the model this server runs; a provider sent is kept as sent."
)


class AgentIn(BodyIn):
    model_config = ConfigDict(extra="forbid")

    name: str = Name
    publish_status: PublishStatusIn = "draft"
    runtime: RuntimeIn = Field("parley", description=RUNTIME_HELP)
    publish_mode: PublishModeIn = Field("immediate", description=PUBLISH_MODE_HELP)
    configuration: AgentConfiguration = Field(
        default_factory=AgentConfiguration, description=CONFIGURATION_HELP
    )
    metadata: dict[str, Any] = Field(default_factory=dict)


class AgentPatch(BodyIn):
    """Only the fields sent change. `configuration` is a JSON Merge Patch (RFC 7396)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    publish_status: PublishStatusIn | None = None
    runtime: RuntimeIn | None = Field(None, description=RUNTIME_HELP)
    publish_mode: PublishModeIn | None = Field(None, description=PUBLISH_MODE_HELP)
    configuration: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    base_version: int | None = Field(None, ge=1, description=BASE_VERSION_HELP)


class EphemeralAgentIn(BodyIn):
    model_config = ConfigDict(extra="forbid")

    configuration: AgentConfiguration = Field(description=CONFIGURATION_HELP)
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
    publish_mode: PublishModeIn
    published_version: int | None = Field(
        None, description="The number of the version live traffic runs; `configuration` is its."
    )
    draft_version: int | None = Field(
        None, description="The number of the version waiting to be published, if any."
    )
    expires_at: datetime | None
    configuration: dict[str, Any]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_published_version(agent: Agent) -> int | None:
        return agent.published_version.number if agent.published_version else None

    @staticmethod
    def resolve_draft_version(agent: Agent) -> int | None:
        return agent.draft_version.number if agent.draft_version else None


class EphemeralAgentRef(Schema):
    id: UUID
    expires_at: datetime
    created_at: datetime


class EphemeralAgentOut(Schema):
    agent: EphemeralAgentRef


class AgentVersionSummaryOut(Schema):
    number: int
    name: str
    source: Literal["dashboard", "api", "sync", "system"]
    author_id: UUID | None = Field(None, description="The person who made it, if any.")
    note: str
    created_at: datetime
    published: bool = Field(description="Whether live traffic runs this version.")
    draft: bool = Field(description="Whether this is the version waiting to be published.")

    @staticmethod
    def resolve_published(version: AgentVersion) -> bool:
        return version.agent.published_version_id == version.pk

    @staticmethod
    def resolve_draft(version: AgentVersion) -> bool:
        return version.agent.draft_version_id == version.pk


class AgentVersionOut(AgentVersionSummaryOut):
    configuration: dict[str, Any]
    tools: list[dict[str, Any]] = Field(
        description="The selected tools' definitions as they were, secrets masked."
    )


class FieldChangeOut(Schema):
    path: str
    before: Any
    after: Any


class PromptLineOut(Schema):
    kind: Literal["same", "removed", "added"]
    text: str


class ToolChangeOut(Schema):
    id: str
    name: str
    change: Literal["added", "removed", "changed"]
    fields: list[str] = Field(description="For a changed tool, the fields that differ.")


class AgentVersionDiffOut(Schema):
    from_version: int
    to_version: int
    fields: list[FieldChangeOut] = Field(
        description="Every configuration field that differs (the system prompt aside), and name."
    )
    system_prompt: list[PromptLineOut] = Field(
        description="The system prompt as a line diff; empty when it is the same."
    )
    tools: list[ToolChangeOut]
