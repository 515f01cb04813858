"""Dashboard pages for tools: the list, one tool (with its test panel and recent calls), one
recorded call, the form (new and edit), delete, and the schema check the form's JSON Schema
editor calls as someone types."""

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from parley.errors import Conflict, InvalidInput, NotFound
from teams.access import DashboardRequest, require_writer, team_required

from . import selectors, services
from .forms import SchemaCheckForm, ToolForm, ToolTestForm, schema_text
from .models import ExecutionOutcome, HttpMethod, Tool
from .spec import REDACTED, headers_masked

NEW_TOOL_ID = "(assigned when you save)"
# What the sample call shows until the form has a name or server URL.
SAMPLE_NAME, SAMPLE_URL = "your_tool", "https://hooks.example.com/your-tool"
RECENT_CALLS = 20
STATS_PERIOD = timedelta(days=7)


def _tool_for(request: DashboardRequest, tool_id: UUID) -> Tool:
    """One of the current team's tools; another team's is a 404, never revealed."""
    try:
        return selectors.tool_get(team=request.membership.team, tool_id=tool_id)
    except NotFound as exc:
        raise Http404(exc.message) from None


def _sample(sample: services.SampleCall) -> dict[str, Any]:
    body = json.dumps(sample.body, indent=2) if sample.body is not None else None
    return {"sample": sample, "sample_body": body}


def _pretty(value: Any) -> str:
    """A recorded JSON value for people: text as it came (a cut body is text), else indented."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False)


def _exchange(sent: dict[str, Any] | None, received: dict[str, Any] | None) -> dict[str, Any]:
    """The request and response records (secrets already redacted), as tools/_exchange.html
    shows them."""
    payload = (sent or {}).get("payload")
    body = (received or {}).get("body")
    return {
        "sent": sent,
        "sent_payload": "" if payload is None else _pretty(payload),
        "received": received,
        "received_body": "" if body in (None, "") else _pretty(body),
    }


def _calls(tool: Tool) -> dict[str, Any]:
    since = timezone.now() - STATS_PERIOD
    return {
        "executions": list(selectors.tool_executions_recent(tool=tool, limit=RECENT_CALLS)),
        "stats": selectors.tool_execution_stats(tool=tool, since=since),
        "stats_days": STATS_PERIOD.days,
        "recent_limit": RECENT_CALLS,
    }


def _test_panel(form: ToolTestForm, report: dict[str, Any] | None) -> dict[str, Any]:
    context: dict[str, Any] = {"test_form": form, "report": report}
    if report is not None:
        outcome = report.get("outcome")
        context["outcome_label"] = ExecutionOutcome(outcome).label if outcome else ""
        context |= _exchange(report.get("request_sent"), report.get("response_received"))
    return context


def _test_form(tool: Tool) -> ToolTestForm:
    """Unbound, its parameters the same example values as the sample call's."""
    example = services.tool_example_parameters(parameters_schema=tool.parameters_schema)
    return ToolTestForm(initial={"parameters": json.dumps(example, indent=2)})


def _detail_page(
    request: DashboardRequest,
    tool: Tool,
    test_form: ToolTestForm | None = None,
    report: dict[str, Any] | None = None,
) -> HttpResponse:
    masked = headers_masked(tool.headers or {})
    context = {
        "tool": tool,
        "schema": schema_text(tool.parameters_schema),
        "headers": [(name, None if value == REDACTED else value) for name, value in masked.items()],
        "auth": tool.auth_config or {"type": "none"},
    }
    sample = services.tool_sample_call(
        tool_id=str(tool.id),
        name=tool.name,
        method=tool.method,
        server_url=tool.server_url,
        parameters_schema=tool.parameters_schema,
    )
    context |= _sample(sample) | _calls(tool)
    if request.membership.can_write:
        context |= _test_panel(test_form or _test_form(tool), report)
    return render(request, "tools/detail.html", context)


def _schema_check(data: Mapping[str, Any], tool_id: str) -> dict[str, Any]:
    """The schema's errors, or the sample call built from it: the editor's live result."""
    check = SchemaCheckForm(data)
    if not check.is_valid() and "parameters_schema" in check.errors:
        return {"schema_errors": check.errors["parameters_schema"]}
    cleaned = check.cleaned_data  # a method that is not one of ours falls back to POST
    sample = services.tool_sample_call(
        tool_id=tool_id,
        name=cleaned.get("name") or SAMPLE_NAME,
        method=cleaned.get("method") or HttpMethod.POST,
        server_url=cleaned.get("server_url") or SAMPLE_URL,
        parameters_schema=cleaned["parameters_schema"],
    )
    return _sample(sample)


def _form_page(request: DashboardRequest, form: ToolForm, tool: Tool | None) -> HttpResponse:
    check_url = reverse("tools:validate", args=[tool.id] if tool else [])
    form.fields["parameters_schema"].widget.attrs.update(
        {
            "hx-post": check_url,
            "hx-trigger": "keyup changed delay:400ms, change from:#id_method, "
            "change from:#id_name, change from:#id_server_url",
            "hx-target": "#schema-check",
            "hx-swap": "outerHTML",
            "hx-params": "parameters_schema,name,method,server_url",
        }
    )
    live = {name: form[name].value() for name in SchemaCheckForm.base_fields}
    context = {"form": form, "tool": tool, "check_url": check_url}
    context |= _schema_check(live, str(tool.id) if tool else NEW_TOOL_ID)
    if "parameters_schema" in form.errors:
        context.pop("schema_errors", None)  # shown under the field already
    return render(request, "tools/form.html", context)


@require_GET
@team_required
def tool_list(request: DashboardRequest) -> HttpResponse:
    tools = selectors.tool_list_for_dashboard(team=request.membership.team)
    rows = [{"tool": tool, "host": urlsplit(tool.server_url).netloc} for tool in tools]
    return render(request, "tools/list.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
@team_required
def tool_create(request: DashboardRequest) -> HttpResponse:
    actor = require_writer(request)
    form = ToolForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            tool = services.tool_create_from_document(
                team=request.membership.team, actor=actor, document=form.document
            )
        except (InvalidInput, Conflict) as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Created the tool {tool.name}.")
            return redirect("tools:detail", tool.id)
    return _form_page(request, form, tool=None)


@require_GET
@team_required
def tool_detail(request: DashboardRequest, tool_id: UUID) -> HttpResponse:
    return _detail_page(request, _tool_for(request, tool_id))


@require_POST
@team_required
def tool_test(request: DashboardRequest, tool_id: UUID) -> HttpResponse:
    """Check the parameters typed on the tool page and, unless "Validate only", call the webhook.
    Writers only: it calls the webhook for real. HTMX gets the panel and, out of band, the recent
    calls with the new one; without JavaScript the whole page comes back with the result."""
    tool = _tool_for(request, tool_id)
    require_writer(request)
    form = ToolTestForm(request.POST)
    report = None
    if form.is_valid():
        report = services.tool_test(
            tool=tool,
            parameters=form.cleaned_data["parameters"],
            validate_only=form.cleaned_data["validate_only"],
        )
    if not request.htmx:
        return _detail_page(request, tool, test_form=form, report=report)
    context = {"tool": tool} | _test_panel(form, report)
    if report and report.get("execution_id"):  # a recorded call: the list gains a row
        context |= {"oob": True} | _calls(tool)
    return render(request, "tools/detail.html#tested", context)


@require_GET
@team_required
def tool_execution(request: DashboardRequest, tool_id: UUID, execution_id: UUID) -> HttpResponse:
    """One recorded call of the tool. A call of another tool is a 404, even in the same team."""
    tool = _tool_for(request, tool_id)
    try:
        execution = selectors.tool_execution_get(tool=tool, execution_id=execution_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    context = {"tool": tool, "execution": execution, "arguments": _pretty(execution.arguments)}
    context |= _exchange(execution.request or None, execution.response)
    return render(request, "tools/execution.html", context)


@require_http_methods(["GET", "POST"])
@team_required
def tool_edit(request: DashboardRequest, tool_id: UUID) -> HttpResponse:
    tool = _tool_for(request, tool_id)
    actor = require_writer(request)
    form = ToolForm(request.POST if request.method == "POST" else None, tool=tool)
    if form.is_bound and form.is_valid():
        try:
            services.tool_update(tool=tool, actor=actor, changes=form.document)
        except (InvalidInput, Conflict) as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Saved the tool {tool.name}.")
            return redirect("tools:detail", tool.id)
    return _form_page(request, form, tool=tool)


@require_POST
@team_required
def tool_delete(request: DashboardRequest, tool_id: UUID) -> HttpResponse:
    tool = _tool_for(request, tool_id)
    actor = require_writer(request)
    name = tool.name
    services.tool_delete(tool=tool, actor=actor)
    messages.success(request, f"Deleted the tool {name}.")
    return redirect("tools:list")


@require_POST
@team_required
def tool_schema_check(request: DashboardRequest, tool_id: UUID | None = None) -> HttpResponse:
    """Open to viewers too: it changes nothing and shows only what was sent. HTMX gets the
    result alone; without JavaScript the form's "Check schema" button gets it as a page."""
    shown_id = str(_tool_for(request, tool_id).id) if tool_id else NEW_TOOL_ID
    template = "tools/schema_check.html" + ("#result" if request.htmx else "")
    return render(request, template, _schema_check(request.POST, shown_id))
