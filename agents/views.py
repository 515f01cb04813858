"""The agents pages: list, create, edit, detail, and the publish, duplicate and delete actions.

Every write goes through agents.services, the same functions the /v1 API calls."""

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from activity.services import Actor
from completions.pages import llm_keys_context
from parley.errors import InvalidInput
from providers.selectors import provider_problem
from teams.access import DashboardRequest, require_writer, team_required
from teams.models import Team
from tools.selectors import tool_list
from voice.services import call_type

from . import selectors, services
from .configuration import AgentConfiguration, merge_patch
from .forms import AgentFilterForm, AgentForm, PublishStatusForm
from .models import Agent, AgentKind, PublishStatus, Runtime

PAGE_SIZE = 20
SINGLE_USE_READ_ONLY = (
    "Single-use agents are read-only: they are made through the API for a single session."
)


def _agent(request: DashboardRequest, agent_id: UUID) -> Agent:
    """One of the current team's agents, expired single-use ones included; 404 for any other."""
    return get_object_or_404(Agent, team_id=request.membership.team_id, id=agent_id)


def _writable_agent(request: DashboardRequest, agent_id: UUID) -> tuple[Agent, Actor]:
    """The agent and who changes it: viewers get 403, and so does any single-use agent."""
    agent = _agent(request, agent_id)
    actor = require_writer(request)
    if agent.kind == AgentKind.SINGLE_USE:
        raise PermissionDenied(SINGLE_USE_READ_ONLY)
    return agent, actor


def _tool_choices(team: Team) -> list[tuple[str, str]]:
    return [(str(tool.id), tool.name) for tool in tool_list(team=team).order_by("name")]


def _agent_form(request: DashboardRequest, initial: dict[str, Any]) -> AgentForm:
    return AgentForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        tool_choices=_tool_choices(request.membership.team),
        validate_url=reverse("agents:validate"),
    )


def _checked(form: AgentForm, *, team: Team, base: dict[str, Any]) -> AgentConfiguration | None:
    """Parse the form and check the configuration it makes, as saving would, saving nothing.

    Every problem lands beside its field, those of the schema too while another field does not
    parse. Returns the configuration when there are none."""
    form.is_valid()
    document = merge_patch(base, form.configuration_document())
    try:
        configuration = services.agent_configuration_validate(team=team, document=document)
    except InvalidInput as error:
        form.add_service_errors(error)
        return None
    return None if form.errors else configuration


@require_GET
@vary_on_headers("HX-Request")
@team_required
def agent_list(request: DashboardRequest) -> HttpResponse:
    filters = AgentFilterForm(request.GET)
    filters.is_valid()  # a value that does not parse is shown with its error and not applied
    kind = filters.cleaned_data.get("kind") or AgentKind.PERMANENT
    name, status = filters.cleaned_data.get("q", ""), filters.cleaned_data.get("status", "")
    agents = selectors.agent_search(
        team=request.membership.team, kind=kind, name_contains=name, publish_status=status
    )
    context = {
        "filters": filters,
        "kind": kind,
        "filtered": bool(name or status),
        "page": Paginator(agents, PAGE_SIZE).get_page(request.GET.get("page")),
    }
    template = "agents/list.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#agent-table"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@team_required
def agent_create(request: DashboardRequest) -> HttpResponse:
    actor = require_writer(request)
    team = request.membership.team
    form = _agent_form(request, AgentForm.initial_from(AgentConfiguration().as_document()))
    if request.method == "POST" and (configuration := _checked(form, team=team, base={})):
        try:
            agent = services.agent_create(
                team=team,
                actor=actor,
                name=form.cleaned_data["name"],
                publish_status=form.cleaned_data["publish_status"],
                runtime=form.cleaned_data.get("runtime") or Runtime.PARLEY,
                configuration=configuration,
            )
        except InvalidInput as error:  # a selected tool deleted a moment ago
            form.add_service_errors(error)
        else:
            messages.success(request, f"Created {agent.name}.")
            return redirect("agents:detail", agent.id)
    return render(request, "agents/form.html", {"form": form, "agent": None})


@require_http_methods(["GET", "POST"])
@team_required
def agent_edit(request: DashboardRequest, agent_id: UUID) -> HttpResponse:
    agent, actor = _writable_agent(request, agent_id)
    name = agent.name  # a refused update leaves its changes on the instance
    initial = AgentForm.initial_from(
        agent.configuration,
        name=agent.name,
        publish_status=agent.publish_status,
        runtime=agent.runtime,
    )
    form = _agent_form(request, initial)
    team = request.membership.team
    if request.method == "POST" and _checked(form, team=team, base=agent.configuration):
        try:
            services.agent_update(agent=agent, actor=actor, changes=form.changes())
        except InvalidInput as error:
            form.add_service_errors(error)
        else:
            messages.success(request, f"Saved {agent.name}.")
            return redirect("agents:detail", agent.id)
    return render(request, "agents/form.html", {"form": form, "agent": agent, "title": name})


@require_POST
@team_required
def agent_validate(request: DashboardRequest) -> HttpResponse:
    """The error list of the field being typed in (all of them without HX-Trigger-Name), each
    swapped out of band into its place, so no input the person is typing in is replaced."""
    require_writer(request)
    team = request.membership.team
    form = AgentForm(request.POST, tool_choices=_tool_choices(team))
    _checked(form, team=team, base={})
    if (name := request.htmx.trigger_name) in form.fields:
        fields, non_field = [form[name]], False
    else:
        fields, non_field = list(form), True
    return render(
        request,
        "agents/form.html#validation",
        {"form": form, "fields": fields, "non_field": non_field, "oob": True},
    )


# Stands for the session id in the URLs the test call's script fills in once the widget has one.
SESSION_PLACEHOLDER = UUID(int=0)


def _test_call_context(request: DashboardRequest, agent: Agent) -> dict[str, Any]:
    """What the test call panel needs. Every member runs it, viewers too: a call changes nothing
    about the agent, and the start endpoint lets anyone signed in to the team start its drafts.
    A single-use agent offers none: the call would use up its one session."""
    return {
        "test_call": agent.kind == AgentKind.PERMANENT,
        "call_mode": call_type(agent_id=agent.id).value,
        "start_url": request.build_absolute_uri(reverse("api:session_start")),
        "session_placeholder": SESSION_PLACEHOLDER,
        "timeline_url": reverse("conversations:timeline", args=[SESSION_PLACEHOLDER]),
        "session_url": reverse("conversations:detail", args=[SESSION_PLACEHOLDER]),
    }


def _detail_context(request: DashboardRequest, agent: Agent) -> dict[str, Any]:
    configuration = agent.configuration
    tool_ids = configuration.get("tool_calling", {}).get("selected_tool_ids", [])
    origin = request.build_absolute_uri("/").rstrip("/")
    return {
        "agent": agent,
        "configuration": configuration,
        "tools": tool_list(team=agent.team).filter(id__in=tool_ids).order_by("name"),
        "can_change": request.membership.can_write and agent.kind == AgentKind.PERMANENT,
        "expired": agent.is_expired(),
        "origin": origin,
        "embed_snippet": f'<live-avatar agentid="{agent.id}"></live-avatar>\n'
        f'<script src="{origin}/widget/live-avatar.js"></script>',
        "meet_url": f"{origin}/meet/{agent.id}",
        "publish_choices": PublishStatus.choices,
        "llm_problem": _llm_problem(agent, configuration),
        **_test_call_context(request, agent),
        **llm_keys_context(request, agent),
    }


def _llm_problem(agent: Agent, configuration: dict[str, Any]) -> str | None:
    """Why this agent cannot answer yet, said plainly, or None."""
    llm = configuration.get("llm", {})
    if llm.get("custom_url"):
        return None
    if llm.get("provider", "openai") == "custom":
        return "This agent's LLM provider is custom but it has no custom URL: edit the agent."
    return provider_problem(team=agent.team, kind=llm.get("provider", "openai"))


@require_GET
@team_required
def agent_detail(request: DashboardRequest, agent_id: UUID) -> HttpResponse:
    agent = _agent(request, agent_id)
    return render(request, "agents/detail.html", _detail_context(request, agent))


@require_POST
@team_required
def agent_publish(request: DashboardRequest, agent_id: UUID) -> HttpResponse:
    agent, actor = _writable_agent(request, agent_id)
    form = PublishStatusForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Choose a publish status: draft, private or public.")
    services.agent_update(
        agent=agent, actor=actor, changes={"publish_status": form.cleaned_data["publish_status"]}
    )
    message = f"{agent.name} is now {agent.get_publish_status_display().lower()}."
    if not request.htmx:
        messages.success(request, message)
        return redirect("agents:detail", agent.id)
    context = {"agent": agent, "can_change": True, "publish_choices": PublishStatus.choices}
    response = render(request, "agents/detail.html#publish-status", context)
    trigger_client_event(
        response, "agentPublished", {"id": agent.id, "publish_status": agent.publish_status}
    )
    return trigger_client_event(response, "toast", {"value": message})


@require_POST
@team_required
def agent_duplicate(request: DashboardRequest, agent_id: UUID) -> HttpResponse:
    agent, actor = _writable_agent(request, agent_id)
    copy = services.agent_duplicate(agent=agent, actor=actor)
    messages.success(request, f"Made {copy.name}, a draft.")
    return redirect("agents:detail", copy.id)


@require_http_methods(["GET", "POST"])
@team_required
def agent_delete(request: DashboardRequest, agent_id: UUID) -> HttpResponse:
    """GET asks for confirmation; only the POST deletes."""
    agent, actor = _writable_agent(request, agent_id)
    if request.method == "POST":
        services.agent_delete(agent=agent, actor=actor)
        messages.success(request, f"Deleted {agent.name}.")
        return redirect("agents:list")
    return render(request, "agents/delete.html", {"agent": agent})
