from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema
from pydantic import ConfigDict

from config.bodies import BodyIn


class MintIn(BodyIn):
    """A Parley permanent agent (agent_id) or a configuration, as for Parley's own agents."""

    model_config = ConfigDict(extra="forbid")

    agent_id: UUID | None = None
    configuration: dict[str, Any] | None = None
    ttl_seconds: int = Field(300, ge=60, le=86_400, description="Lifetime on iwy, in seconds.")
    metadata: dict[str, Any] = Field(default_factory=dict)


class MintedRef(Schema):
    """iwy's answer, as iwy gave it."""

    id: str
    expires_at: str | None = None
    created_at: str | None = None


class MintOut(Schema):
    agent: MintedRef


class MintedOut(Schema):
    id: str = Field(validation_alias="remote_id")
    source_agent_id: UUID | None
    ttl_seconds: int
    metadata: dict[str, Any]
    expires_at: datetime | None
    created_at: datetime


class PublishIn(BodyIn):
    model_config = ConfigDict(extra="forbid")

    with_tools: bool = Field(
        False, description="An agent: publish its tools that are not on iwy yet, first."
    )


class ResolveIn(BodyIn):
    model_config = ConfigDict(extra="forbid")

    keep: Literal["parley", "iwy"] = Field(
        description="parley: push Parley's values over iwy's; iwy: take iwy's into Parley."
    )


class LinkOut(Schema):
    """A Parley agent or tool on iwy: its iwy id and how the two copies stand."""

    iwy_id: str = Field(validation_alias="remote_id")
    state: str = Field(description="in_sync, pending (a change waits to be pushed), drift, error")
    last_error: str
    synced_at: datetime
    pulled_at: datetime | None
    diff: list[dict[str, Any]] = Field(
        default_factory=list, description="While drifted: each field, Parley's value and iwy's."
    )
