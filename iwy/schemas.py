from datetime import datetime
from typing import Any
from uuid import UUID

from ninja import Field, Schema
from pydantic import ConfigDict


class MintIn(Schema):
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
