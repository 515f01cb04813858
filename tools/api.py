"""/v1 tools: iwy's singular paths (/tool/{id}) and plural collection paths (/tools)."""

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from ninja import Router, Status
from ninja.pagination import paginate

from teams.auth import READ, WRITE, ApiRequest

from . import selectors, services
from .models import Tool, ToolExecution
from .schemas import ToolExecutionOut, ToolOut, ToolPatch, ToolTestIn, ToolTestOut
from .spec import ToolSpec

router = Router(tags=["Tools"])


@router.get("/tools", response=list[ToolOut], auth=READ, operation_id="tool_list")
@paginate
def tool_list(request: ApiRequest) -> QuerySet[Tool]:
    return selectors.tool_list(team=request.auth.team)


@router.post("/tools", response={201: ToolOut}, auth=WRITE, operation_id="tool_create")
@router.post("/tool", response={201: ToolOut}, auth=WRITE, operation_id="tool_create_iwy")
def tool_create(request: ApiRequest, payload: ToolSpec) -> Status:
    tool = services.tool_create(team=request.auth.team, actor=request.auth.actor, spec=payload)
    return Status(201, tool)


@router.get("/tools/{tool_id}", response=ToolOut, auth=READ, operation_id="tool_get")
@router.get("/tool/{tool_id}", response=ToolOut, auth=READ, operation_id="tool_get_iwy")
def tool_get(request: ApiRequest, tool_id: UUID) -> Tool:
    return selectors.tool_get(team=request.auth.team, tool_id=tool_id)


@router.patch("/tools/{tool_id}", response=ToolOut, auth=WRITE, operation_id="tool_update")
@router.patch("/tool/{tool_id}", response=ToolOut, auth=WRITE, operation_id="tool_update_iwy")
def tool_update(request: ApiRequest, tool_id: UUID, payload: ToolPatch) -> Tool:
    tool = selectors.tool_get(team=request.auth.team, tool_id=tool_id)
    changes = payload.model_dump(mode="json", exclude_unset=True)
    return services.tool_update(tool=tool, actor=request.auth.actor, changes=changes)


@router.delete("/tools/{tool_id}", response={204: None}, auth=WRITE, operation_id="tool_delete")
@router.delete("/tool/{tool_id}", response={204: None}, auth=WRITE, operation_id="tool_delete_iwy")
def tool_delete(request: ApiRequest, tool_id: UUID) -> Status:
    tool = selectors.tool_get(team=request.auth.team, tool_id=tool_id)
    services.tool_delete(tool=tool, actor=request.auth.actor)
    return Status(204, None)


@router.post("/tools/{tool_id}/test", response=ToolTestOut, auth=WRITE, operation_id="tool_test")
@router.post("/tool/{tool_id}/test", response=ToolTestOut, auth=WRITE, operation_id="tool_test_iwy")
def tool_test(request: ApiRequest, tool_id: UUID, payload: ToolTestIn) -> dict[str, Any]:
    """Validate the parameters and, unless validate_only, call the webhook now. A failed call is
    still a 200: `success` is false and `message` says what went wrong."""
    tool = selectors.tool_get(team=request.auth.team, tool_id=tool_id)
    return services.tool_test(
        tool=tool, parameters=payload.parameters, validate_only=payload.validate_only
    )


@router.get(
    "/tools/{tool_id}/executions",
    response=list[ToolExecutionOut],
    auth=READ,
    operation_id="tool_execution_list",
)
@router.get(
    "/tool/{tool_id}/executions",
    response=list[ToolExecutionOut],
    auth=READ,
    operation_id="tool_execution_list_iwy",
)
@paginate
def tool_execution_list(request: ApiRequest, tool_id: UUID) -> QuerySet[ToolExecution]:
    """The tool's recorded calls, newest first, kept for TOOL_EXECUTION_RETENTION_DAYS."""
    tool = selectors.tool_get(team=request.auth.team, tool_id=tool_id)
    return selectors.tool_executions(tool=tool)
