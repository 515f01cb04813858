"""The dashboard's evals pages: an agent's suite (scenarios, runs, the run button), the
scenario form, a run's page (its progress polled with htmx while it runs, then its results)
and the comparison of two runs. Members run and edit; viewers read."""

from uuid import UUID

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST, require_safe

from agents.models import Agent, AgentKind
from parley.errors import ParleyError
from teams.access import DashboardRequest, require_writer, team_required

from . import selectors, services
from .forms import RunForm, ScenarioForm
from .models import EvalRun, EvalScenario

RUNS_SHOWN = 20


def _agent(request: DashboardRequest, agent_id: UUID) -> Agent:
    team = request.membership.team
    return get_object_or_404(Agent, team=team, pk=agent_id, kind=AgentKind.PERMANENT)


def _numbers(agent: Agent) -> list[int]:
    return list(agent.versions.order_by("-number").values_list("number", flat=True))


@require_safe
@team_required
def suite(request: DashboardRequest, agent_id: UUID) -> HttpResponse:
    agent = _agent(request, agent_id)
    context = {
        "agent": agent,
        "scenarios": selectors.scenario_list(agent=agent),
        "runs": selectors.run_list(agent=agent)[:RUNS_SHOWN],
        "run_form": RunForm(numbers=_numbers(agent)),
        "can_change": request.membership.can_write,
    }
    return TemplateResponse(request, "evals/suite.html", context)


def _scenario_form(
    request: DashboardRequest, agent: Agent, scenario: EvalScenario | None
) -> HttpResponse:
    if request.method == "POST":
        actor = require_writer(request)
        form = ScenarioForm(request.POST)
        if form.is_valid():
            try:
                name, spec = form.cleaned_data["name"], form.spec
                if scenario is None:
                    services.scenario_create(agent=agent, actor=actor, name=name, spec=spec)
                else:
                    services.scenario_update(scenario=scenario, name=name, spec=spec)
            except ParleyError as exc:
                form.add_error("name" if "name" in exc.message else None, exc.message)
            else:
                messages.success(request, f"Scenario {name!r} saved.")
                return redirect("evals:suite", agent.id)
    elif scenario is not None:
        form = ScenarioForm(initial=ScenarioForm.initial_for(scenario.name, scenario.spec))
    else:
        form = ScenarioForm()
    context = {
        "agent": agent,
        "scenario": scenario,
        "form": form,
        "can_change": request.membership.can_write,
    }
    return TemplateResponse(request, "evals/scenario_form.html", context)


@team_required
def scenario_create(request: DashboardRequest, agent_id: UUID) -> HttpResponse:
    return _scenario_form(request, _agent(request, agent_id), None)


@team_required
def scenario_edit(request: DashboardRequest, scenario_id: UUID) -> HttpResponse:
    scenario = get_object_or_404(
        EvalScenario.objects.select_related("agent"),
        team=request.membership.team,
        pk=scenario_id,
    )
    return _scenario_form(request, scenario.agent, scenario)


@require_POST
@team_required
def scenario_delete(request: DashboardRequest, scenario_id: UUID) -> HttpResponse:
    require_writer(request)
    scenario = get_object_or_404(EvalScenario, team=request.membership.team, pk=scenario_id)
    services.scenario_delete(scenario=scenario)
    messages.success(request, f"Scenario {scenario.name!r} deleted.")
    return redirect("evals:suite", scenario.agent_id)


@require_POST
@team_required
def run_start(request: DashboardRequest, agent_id: UUID) -> HttpResponse:
    actor = require_writer(request)
    agent = _agent(request, agent_id)
    form = RunForm(request.POST, numbers=_numbers(agent))
    if not form.is_valid():
        said = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        messages.error(request, f"The suite was not run: {said}")
        return redirect("evals:suite", agent.id)
    try:
        run = services.eval_run_start(
            agent=agent,
            actor=actor,
            version=form.cleaned_data["version"],
            trials=form.cleaned_data["trials"],
        )
    except ParleyError as exc:
        messages.error(request, exc.message)
        return redirect("evals:suite", agent.id)
    return redirect("evals:run", run.id)


def _run(request: DashboardRequest, run_id: UUID) -> EvalRun:
    return get_object_or_404(
        EvalRun.objects.select_related("agent", "created_by"),
        team=request.membership.team,
        pk=run_id,
    )


@require_safe
@team_required
def run_detail(request: DashboardRequest, run_id: UUID) -> HttpResponse:
    run = _run(request, run_id)
    results = selectors.run_results(run=run)
    others = selectors.run_list(agent=run.agent).exclude(pk=run.pk)[:RUNS_SHOWN]
    context = {
        "run": run,
        "agent": run.agent,
        "results": results,
        "rates": selectors.run_rates(run=run, results=results),
        "others": others,
    }
    template = "evals/run.html#progress" if request.htmx else "evals/run.html"
    return TemplateResponse(request, template, context)


@require_safe
@team_required
def run_compare(request: DashboardRequest, run_id: UUID) -> HttpResponse:
    run = _run(request, run_id)
    others = selectors.run_list(agent=run.agent).exclude(pk=run.pk)[:RUNS_SHOWN]
    base_id = request.GET.get("base", "")
    base = None
    if base_id:
        try:
            base = _run(request, UUID(base_id))
        except ValueError:
            messages.error(request, "That comparison link is damaged.")
    changes = []
    if base is not None:
        try:
            changes = selectors.runs_compare(before=base, after=run)
        except ParleyError as exc:
            messages.error(request, exc.message)
            base = None
    context = {"run": run, "agent": run.agent, "base": base, "others": others, "changes": changes}
    return TemplateResponse(request, "evals/compare.html", context)
