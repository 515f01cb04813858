"""The agents pages: list, create, edit, detail, history, and the publish, duplicate, delete,
version publish and version restore actions.

Every write goes through agents.services, the same functions the /v1 API calls."""

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import F
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from activity.services import Actor
from completions.pages import llm_keys_context
from parley.errors import Conflict, InvalidInput, NotFound
from providers.selectors import ProviderProblem, llm_problems
from teams.access import DashboardRequest, require_writer, team_required
from teams.models import Team
from tools.selectors import tool_list
from voice.services import call_type

from . import selectors, services
from .configuration import AgentConfiguration, merge_patch
from .forms import AgentFilterForm, AgentForm, PublishStatusForm
from .models import Agent, AgentKind, AgentVersion, PublishMode, PublishStatus, Runtime

PAGE_SIZE = 20
SINGLE_USE_READ_ONLY = (
    "Single-use agents are read-only: they are made through the API for a single session."
)
CUSTOM_WITHOUT_URL = "This agent's LLM provider is custom but it has no custom URL: edit the agent."
# The fields whose change the notice under the LLM provider follows (agent_validate).
LLM_NOTICE_FIELDS = {"llm_provider", "llm_custom_url"}


def _agent(request: DashboardRequest, agent_id: UUID, *, versions: bool = False) -> Agent:
    """One of the current team's agents, expired single-use ones included; 404 for any other.
    `versions`: with its published and draft versions."""
    agents = Agent.objects.all()
    if versions:
        agents = agents.select_related("published_version", "draft_version")
    return get_object_or_404(agents, team_id=request.membership.team_id, id=agent_id)


def _writable_agent(request: DashboardRequest, agent_id: UUID) -> tuple[Agent, Actor]:
    """The agent and who changes it: viewers get 403, and so does any single-use agent."""
    agent = _agent(request, agent_id)
    actor = require_writer(request)
    if agent.kind == AgentKind.SINGLE_USE:
        raise PermissionDenied(SINGLE_USE_READ_ONLY)
    return agent, actor


def _tool_choices(team: Team) -> list[tuple[str, str]]:
    return [(str(tool.id), tool.name) for tool in tool_list(team=team).order_by("name")]


def _llm_problem(
    llm: dict[str, Any], problems: dict[str, ProviderProblem], *, edit_url: str
) -> ProviderProblem | None:
    """Why an agent with this `llm` section cannot answer yet, or None. `problems` is the
    team's llm_problems; `edit_url` is where a custom URL is added, "" where it cannot be."""
    if llm.get("custom_url"):
        return None
    provider = llm.get("provider") or "openai"
    if provider == "custom":
        return ProviderProblem("custom", CUSTOM_WITHOUT_URL, "needs a custom URL", edit_url)
    return problems.get(provider)


def _edit_url(agent: Agent) -> str:
    return reverse("agents:edit", args=[agent.id]) if agent.kind == AgentKind.PERMANENT else ""


def _list_problem(agent: Any, problems: dict[str, ProviderProblem]) -> ProviderProblem | None:
    """_llm_problem for a row of agent_search, which carries its LLM's fields, not the whole
    configuration."""
    llm = {"provider": agent.llm_provider, "custom_url": agent.llm_custom_url}
    return _llm_problem(llm, problems, edit_url=_edit_url(agent))


def _agent_form(request: DashboardRequest, initial: dict[str, Any]) -> AgentForm:
    team = request.membership.team
    return AgentForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        tool_choices=_tool_choices(team),
        llm_problems=llm_problems(team=team),
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
    team = request.membership.team
    agents = selectors.agent_search(
        team=team, kind=kind, name_contains=name, publish_status=status
    ).annotate(llm_custom_url=F("configuration__llm__custom_url"))  # JSON: null is None
    page = Paginator(agents, PAGE_SIZE).get_page(request.GET.get("page"))
    problems = llm_problems(team=team)
    context = {
        "filters": filters,
        "kind": kind,
        "filtered": bool(name or status),
        "page": page,
        # Each agent of the page with what keeps it from answering, if anything.
        "rows": [(agent, _list_problem(agent, problems)) for agent in page],
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
    # The LLM a new agent gets where nobody picks one, so the form starts with what works.
    usual = services.agent_llm_default(team=team, configuration=AgentConfiguration())
    form = _agent_form(request, AgentForm.initial_from(usual.as_document()))
    if request.method == "POST" and (configuration := _checked(form, team=team, base={})):
        try:
            agent = services.agent_create(
                team=team,
                actor=actor,
                name=form.cleaned_data["name"],
                publish_status=form.cleaned_data["publish_status"],
                runtime=form.cleaned_data.get("runtime") or Runtime.PARLEY,
                publish_mode=form.cleaned_data.get("publish_mode") or PublishMode.IMMEDIATE,
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
    """Edits start from the draft, if the agent has one, else from the published version."""
    agent, actor = _writable_agent(request, agent_id)
    name = agent.name  # a refused update leaves its changes on the instance
    head = agent.draft_version or agent.published_version
    document = head.configuration if head is not None else agent.configuration
    initial = AgentForm.initial_from(
        document,
        name=agent.name,
        publish_status=agent.publish_status,
        runtime=agent.runtime,
        publish_mode=agent.publish_mode,
        base_version=head.number if head is not None else None,
    )
    form = _agent_form(request, initial)
    team = request.membership.team
    if request.method == "POST" and _checked(form, team=team, base=document):
        try:
            services.agent_update(
                agent=agent,
                actor=actor,
                changes=form.changes(),
                base_version=form.cleaned_data.get("base_version"),
            )
        except InvalidInput as error:
            form.add_service_errors(error)
        except Conflict as error:  # someone saved meanwhile: their version is not overwritten
            form.add_error(None, error.message)
        else:
            messages.success(request, _saved(agent))
            return redirect("agents:detail", agent.id)
    return render(request, "agents/form.html", {"form": form, "agent": agent, "title": name})


def _saved(agent: Agent) -> str:
    if agent.draft_version is not None:
        number = agent.draft_version.number
        return f"Saved {agent.name} as draft version {number}: publish it from its History."
    return f"Saved {agent.name}."


@require_POST
@team_required
def agent_validate(request: DashboardRequest) -> HttpResponse:
    """The error list of the field being typed in (all of them without HX-Trigger-Name), each
    swapped out of band into its place, so no input the person is typing in is replaced."""
    require_writer(request)
    team = request.membership.team
    form = AgentForm(
        request.POST, tool_choices=_tool_choices(team), llm_problems=llm_problems(team=team)
    )
    _checked(form, team=team, base={})
    if (name := request.htmx.trigger_name) in form.fields:
        fields, non_field = [form[name]], False
    else:
        fields, non_field = list(form), True
    context = {
        "form": form,
        "fields": fields,
        "non_field": non_field,
        "llm_notice": non_field or name in LLM_NOTICE_FIELDS,
        "oob": True,
    }
    return render(request, "agents/form.html#validation", context)


# Stands for the session id in the URLs the test call's script fills in once the widget has one.
SESSION_PLACEHOLDER = UUID(int=0)


def _test_version(request: DashboardRequest, agent: Agent) -> AgentVersion | None:
    """The version the test call runs: `?version=` if the agent has it, else the draft if there
    is one (what a person testing wants to hear), else the published one."""
    number = request.GET.get("version", "")
    if number.isdigit():
        found = agent.versions.filter(number=int(number)).first()
        if found is not None:
            return found
    return agent.draft_version or agent.published_version


def _test_call_context(request: DashboardRequest, agent: Agent) -> dict[str, Any]:
    """What the test call panel needs. Every member runs it, viewers too: a call changes nothing
    about the agent, and the start endpoint lets anyone signed in to the team start its drafts
    and any of its versions. A single-use agent offers none: the call would use up its one
    session."""
    start_url = request.build_absolute_uri(reverse("api:session_start"))
    version = _test_version(request, agent)
    if version is not None and version.pk != agent.published_version_id:
        start_url += f"?version={version.number}"
    return {
        "test_call": agent.kind == AgentKind.PERMANENT,
        "call_mode": call_type(agent_id=agent.id).value,
        "test_version": version,
        "test_versions": agent.versions.order_by("-number").only("number")[:50],
        "start_url": start_url,
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
        "llm_problem": _llm_problem(
            configuration.get("llm", {}), llm_problems(team=agent.team), edit_url=_edit_url(agent)
        ),
        **_test_call_context(request, agent),
        **llm_keys_context(request, agent),
    }


@require_GET
@team_required
def agent_detail(request: DashboardRequest, agent_id: UUID) -> HttpResponse:
    agent = _agent(request, agent_id, versions=True)
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


# Versions: the History page, and publishing or restoring one.

HISTORY_PAGE_SIZE = 20


def _diff_numbers(request: DashboardRequest, agent: Agent, numbers: list[int]) -> tuple[int, int]:
    """The two versions the History page compares: `?from=&to=` where the agent has them, else
    the published version and the newest one (or the one before it)."""
    newest = numbers[0]
    published = agent.published_version.number if agent.published_version else newest
    default_from = published if published != newest else (numbers[1:] or [newest])[0]
    chosen = []
    for name, default in (("from", default_from), ("to", newest)):
        value = request.GET.get(name, "")
        chosen.append(int(value) if value.isdigit() and int(value) in numbers else default)
    return chosen[0], chosen[1]


@require_GET
@vary_on_headers("HX-Request")
@team_required
def agent_history(request: DashboardRequest, agent_id: UUID) -> HttpResponse:
    """The agent's versions, newest first, and what changed between two of them. Every member
    reads it; those who may change the agent publish and restore from it."""
    agent = _agent(request, agent_id, versions=True)
    versions = selectors.agent_versions(agent=agent)
    numbers = list(versions.values_list("number", flat=True))
    context: dict[str, Any] = {
        "agent": agent,
        "page": Paginator(versions, HISTORY_PAGE_SIZE).get_page(request.GET.get("page")),
        "numbers": numbers,
        "can_change": request.membership.can_write and agent.kind == AgentKind.PERMANENT,
        "diff": None,
    }
    if numbers:
        first, second = _diff_numbers(request, agent, numbers)
        context["diff"] = selectors.agent_version_diff(
            agent=agent, from_number=first, to_number=second
        )
    template = "agents/history.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#version-diff"
    return render(request, template, context)


@require_POST
@team_required
def agent_version_publish(request: DashboardRequest, agent_id: UUID, number: int) -> HttpResponse:
    agent, actor = _writable_agent(request, agent_id)
    try:
        services.agent_version_publish(agent=agent, actor=actor, number=number)
    except NotFound as error:
        raise Http404(error.message) from None
    except InvalidInput as error:  # it names a tool deleted since
        messages.error(request, f"Version {number} was not published: {error.message}")
    else:
        messages.success(request, f"Published version {number} of {agent.name}.")
    return redirect("agents:history", agent.id)


@require_POST
@team_required
def agent_version_restore(request: DashboardRequest, agent_id: UUID, number: int) -> HttpResponse:
    agent, actor = _writable_agent(request, agent_id)
    try:
        restored = services.agent_version_restore(agent=agent, actor=actor, number=number)
    except NotFound as error:
        raise Http404(error.message) from None
    except InvalidInput as error:
        messages.error(request, f"Version {number} was not restored: {error.message}")
    else:
        state = "a draft" if agent.draft_version_id == restored.pk else "published"
        messages.success(
            request, f"Restored version {number} as version {restored.number}, {state}."
        )
    return redirect("agents:history", agent.id)
