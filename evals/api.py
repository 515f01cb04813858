"""/v1: an agent's eval suite (scenarios), its runs, and their comparison (docs/evals.md)."""

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from ninja import Query, Router, Status
from ninja.pagination import paginate

from agents.selectors import agent_get
from parley.errors import InvalidInput
from teams.auth import READ, WRITE, ApiRequest

from . import selectors, services
from .models import EvalRun, EvalScenario
from .schemas import (
    CompareOut,
    CompareQuery,
    RunIn,
    RunOut,
    RunSummaryOut,
    ScenarioIn,
    ScenarioOut,
    ScenarioPatch,
)

router = Router(tags=["Evals"])


def run_document(run: EvalRun) -> dict[str, Any]:
    """The run, with each result and each scenario's pass rates: the API's and the CLI's."""
    results = selectors.run_results(run=run)
    rates = selectors.run_rates(run=run, results=results)
    return run.as_document() | {
        "scenarios": [rate.as_document() for rate in rates],
        "results": [result.as_document() for result in results],
    }


@router.get(
    "/agents/{agent_id}/evals/scenarios",
    response=list[ScenarioOut],
    auth=READ,
    operation_id="eval_scenario_list",
)
def eval_scenario_list(request: ApiRequest, agent_id: UUID) -> QuerySet[EvalScenario]:
    """The agent's suite, by name."""
    agent = agent_get(team=request.auth.team, agent_id=agent_id)
    return selectors.scenario_list(agent=agent)


@router.post(
    "/agents/{agent_id}/evals/scenarios",
    response={201: ScenarioOut},
    auth=WRITE,
    operation_id="eval_scenario_create",
)
def eval_scenario_create(request: ApiRequest, agent_id: UUID, payload: ScenarioIn) -> Status:
    agent = agent_get(team=request.auth.team, agent_id=agent_id)
    scenario = services.scenario_create(
        agent=agent, actor=request.auth.actor, name=payload.name, spec=payload.spec
    )
    return Status(201, scenario)


@router.get(
    "/evals/scenarios/{scenario_id}",
    response=ScenarioOut,
    auth=READ,
    operation_id="eval_scenario_get",
)
def eval_scenario_get(request: ApiRequest, scenario_id: UUID) -> EvalScenario:
    return selectors.scenario_get(team=request.auth.team, scenario_id=scenario_id)


@router.patch(
    "/evals/scenarios/{scenario_id}",
    response=ScenarioOut,
    auth=WRITE,
    operation_id="eval_scenario_update",
)
def eval_scenario_update(
    request: ApiRequest, scenario_id: UUID, payload: ScenarioPatch
) -> EvalScenario:
    scenario = selectors.scenario_get(team=request.auth.team, scenario_id=scenario_id)
    return services.scenario_update(scenario=scenario, name=payload.name, spec=payload.spec)


@router.delete(
    "/evals/scenarios/{scenario_id}",
    response={204: None},
    auth=WRITE,
    operation_id="eval_scenario_delete",
)
def eval_scenario_delete(request: ApiRequest, scenario_id: UUID) -> Status:
    scenario = selectors.scenario_get(team=request.auth.team, scenario_id=scenario_id)
    services.scenario_delete(scenario=scenario)
    return Status(204, None)


@router.post(
    "/agents/{agent_id}/evals/runs",
    response={202: RunOut},
    auth=WRITE,
    operation_id="eval_run_start",
)
def eval_run_start(request: ApiRequest, agent_id: UUID, payload: RunIn) -> Status:
    """Play the agent's suite against a version (the draft by default), each scenario
    `trials` times, in the background: poll the run until its status is no longer running.
    409 when the suite has no scenarios."""
    agent = agent_get(team=request.auth.team, agent_id=agent_id)
    run = services.eval_run_start(
        agent=agent, actor=request.auth.actor, version=payload.version, trials=payload.trials
    )
    return Status(202, run_document(run))


@router.get(
    "/agents/{agent_id}/evals/runs",
    response=list[RunSummaryOut],
    auth=READ,
    operation_id="eval_run_list",
)
@paginate
def eval_run_list(request: ApiRequest, agent_id: UUID) -> QuerySet[EvalRun]:
    """The agent's runs, newest first."""
    agent = agent_get(team=request.auth.team, agent_id=agent_id)
    return selectors.run_list(agent=agent)


@router.get("/evals/runs/{run_id}", response=RunOut, auth=READ, operation_id="eval_run_get")
def eval_run_get(request: ApiRequest, run_id: UUID) -> dict[str, Any]:
    """The run: its counts, each scenario's pass rate (flaky when its trials disagree), and
    each result with its checks' outcomes and reasons and the session it played."""
    return run_document(selectors.run_get(team=request.auth.team, run_id=run_id))


@router.get(
    "/evals/runs/{run_id}/compare",
    response=CompareOut,
    auth=READ,
    operation_id="eval_run_compare",
)
def eval_run_compare(
    request: ApiRequest, run_id: UUID, query: Query[CompareQuery]
) -> dict[str, Any]:
    """What got better or worse in this run against `base`, an earlier run of the same
    agent's suite: each scenario's and each check's pass rate in both."""
    run = selectors.run_get(team=request.auth.team, run_id=run_id)
    if query.base is None:
        raise InvalidInput.for_field("base", "send the id of the run to compare with")
    base = selectors.run_get(team=request.auth.team, run_id=query.base)
    changes = selectors.runs_compare(before=base, after=run)
    return {"base": base.id, "run": run.id, "scenarios": [c.as_document() for c in changes]}
