from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema
from pydantic import AnyHttpUrl, ConfigDict

from config.bodies import BodyIn

from .models import Tool
from .spec import Headers, ParametersSchema, Tag, auth_config_masked, headers_masked


class ToolPatch(BodyIn):
    """Only the fields sent change. Secrets sent back as [REDACTED] keep their stored values."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str | None = None
    server_url: AnyHttpUrl | None = None
    method: Literal["POST", "GET", "PUT", "PATCH", "DELETE"] | None = None
    parameters_schema: ParametersSchema | None = None
    headers: Headers | None = None
    auth_config: dict[str, Any] | None = None
    timeout_seconds: int | None = Field(None, ge=1, le=300)
    is_async: bool | None = None
    strict_params: bool | None = None
    tags: list[Tag] | None = None


class ToolOut(Schema):
    id: UUID
    user_id: UUID | None = Field(None, validation_alias="created_by_id")
    name: str
    description: str
    server_url: str
    method: str
    parameters_schema: dict[str, Any]
    headers: dict[str, str]
    auth_config: dict[str, Any]
    timeout_seconds: int
    is_async: bool
    strict_params: bool
    tags: list[str]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_headers(tool: Tool) -> dict[str, str]:
        return headers_masked(tool.headers or {})

    @staticmethod
    def resolve_auth_config(tool: Tool) -> dict[str, Any]:
        return auth_config_masked(tool.auth_config or {"type": "none"})


class ToolTestIn(BodyIn):
    model_config = ConfigDict(extra="forbid")

    parameters: dict[str, Any] = Field(
        default_factory=dict, description="The arguments, as the agent's LLM would send them."
    )
    validate_only: bool = Field(False, description="Check the parameters; do not call.")


class ValidationProblem(Schema):
    field: str
    message: str


class ToolRef(Schema):
    id: UUID
    name: str


class RequestSent(Schema):
    url: str
    method: str
    headers: dict[str, str] = Field(description="Secret values are shown as [REDACTED].")
    payload: Any = Field(None, description="The JSON body; null for GET and DELETE.")


class ResponseReceived(Schema):
    status: int
    status_text: str
    headers: dict[str, str]
    body: Any = Field(None, description="Parsed when JSON, else text; capped.")
    content_type: str


class ToolTestOut(Schema):
    success: bool
    execution_time_ms: int
    validation: Literal["valid", "invalid", "warnings"]
    validation_errors: list[ValidationProblem]
    message: str
    tool: ToolRef
    outcome: str | None = Field(None, description="success, http_error, timeout, refused, ...")
    result: str | None = Field(None, description="What the agent's LLM would be given.")
    execution_id: UUID | None = None
    request_sent: RequestSent | None = None
    response_received: ResponseReceived | None = None


class ToolExecutionOut(Schema):
    """One recorded call: secrets redacted, bodies capped."""

    id: UUID
    tool_id: UUID | None
    tool_name: str
    session_id: UUID | None
    source: Literal["agent", "test"]
    is_async: bool
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    outcome: str
    status_code: int | None
    error: str
    arguments: dict[str, Any]
    request: dict[str, Any]
    response: dict[str, Any] | None
