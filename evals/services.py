"""Evals: an agent's suite of scenarios, played against one of its versions through the same
conversation engine as live sessions, and checked.

Each scenario x trial of a run is one EvalResult, played by a Celery task of its own (or in
order, by `manage.py evals run`): a simulated session pinned to the version, a simulated user
(a script, or an LLM playing a persona), the agent's real tools or the scenario's canned
replies, then the checks. Whatever stops a check from being judged (the simulated user's LLM
or the judge's down, the agent's LLM failing, the engine raising) is recorded as an error with
its reason, never as a pass."""

import logging
import time
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pydantic
from asgiref.sync import async_to_sync
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from activity.services import Actor
from agents.configuration import AgentConfiguration, AnalysisConfig
from agents.models import Agent, AgentKind, AgentVersion
from agents.selectors import agent_version_get
from analysis.services import Unusable, analysis_judge, analysis_llm
from config.celery import enqueue, enqueue_on_commit
from parley.errors import Conflict, InvalidInput, invalid_input_from_errors
from parley.llm import LLMFailure
from sessions.models import Session, SessionType
from sessions.selectors import session_configuration
from sessions.services import session_create, session_end, session_transcript

from .checks import CheckOutcome, Outcome, check_all, check_names, not_checked
from .models import EvalResult, EvalRun, EvalScenario, ResultStatus, RunStatus
from .simulation import Played, UserLLM, play
from .spec import ScenarioSpec
from .tasks import EVAL_TIME_LIMIT, play_eval_result

logger = logging.getLogger(__name__)

MAX_TRIALS = 10
MAX_SCENARIOS = 200  # in one agent's suite
MAX_RESULTS = 500  # scenarios x trials in one run
NAME_TAKEN = "another scenario of this agent has this name"
NO_SCENARIOS = "The agent's suite has no scenarios: add one before running it."
SINGLE_USE = "Single-use agents have no test suite: they run one session only."
RECONCILE_AFTER = timedelta(minutes=1)
# A result running longer than its task's hard limit lost its worker.
RUNNING_MAX = timedelta(seconds=EVAL_TIME_LIMIT) + RECONCILE_AFTER
WORKER_LOST = "The scenario never finished: its worker stopped."


def scenario_spec(document: Any) -> ScenarioSpec:
    """The settings given, checked; InvalidInput naming each field wrong."""
    try:
        return ScenarioSpec.model_validate(document)
    except pydantic.ValidationError as exc:
        raise invalid_input_from_errors(exc.errors()) from None


def _suite_agent(agent: Agent) -> None:
    if agent.kind == AgentKind.SINGLE_USE:
        raise Conflict(SINGLE_USE)


@transaction.atomic
def scenario_create(*, agent: Agent, actor: Actor, name: str, spec: ScenarioSpec) -> EvalScenario:
    _suite_agent(agent)
    if EvalScenario.objects.filter(agent=agent).count() >= MAX_SCENARIOS:
        raise Conflict(f"The suite has {MAX_SCENARIOS} scenarios, the most it may hold.")
    scenario = EvalScenario(
        team_id=agent.team_id,
        agent=agent,
        name=name,
        spec=spec.as_document(),
        created_by=actor.person,
    )
    return _saved(scenario)


@transaction.atomic
def scenario_update(
    *, scenario: EvalScenario, name: str | None = None, spec: ScenarioSpec | None = None
) -> EvalScenario:
    if name is not None:
        scenario.name = name
    if spec is not None:
        scenario.spec = spec.as_document()
    scenario.updated_at = timezone.now()
    return _saved(scenario)


def _saved(scenario: EvalScenario) -> EvalScenario:
    scenario.name = scenario.name.strip()
    if not scenario.name:
        raise InvalidInput.for_field("name", "is required")
    if len(scenario.name) > 200:
        raise InvalidInput.for_field("name", "is longer than 200 characters")
    taken = EvalScenario.objects.filter(agent_id=scenario.agent_id, name=scenario.name)
    if taken.exclude(pk=scenario.pk).exists():
        raise InvalidInput.for_field("name", NAME_TAKEN)
    try:
        with transaction.atomic():
            scenario.save()
    except IntegrityError:  # made meanwhile under the same name
        raise InvalidInput.for_field("name", NAME_TAKEN) from None
    return scenario


def scenario_delete(*, scenario: EvalScenario) -> None:
    scenario.delete()


# Starting a run.


def _version(agent: Agent, number: int | None) -> AgentVersion:
    """The version asked for; by default the draft, else the published one."""
    if number is not None:
        return agent_version_get(agent=agent, number=number)
    version = agent.draft_version or agent.published_version
    if version is None:
        raise Conflict("The agent has no version to run yet: save it once.")
    return version


@transaction.atomic
def eval_run_start(
    *,
    agent: Agent,
    actor: Actor,
    version: int | None = None,
    trials: int = 1,
    dispatch: bool = True,
) -> EvalRun:
    """Run the agent's suite against its version numbered `version` (the draft by default),
    each scenario `trials` times. `dispatch`: each result is queued for a worker once this
    commits; otherwise the caller plays them (eval_result_play), as the command line does."""
    _suite_agent(agent)
    if not 1 <= trials <= MAX_TRIALS:
        raise InvalidInput.for_field("trials", f"must be from 1 to {MAX_TRIALS}")
    pinned = _version(agent, version)
    scenarios = list(EvalScenario.objects.filter(agent=agent).order_by("name"))
    if not scenarios:
        raise Conflict(NO_SCENARIOS)
    if len(scenarios) * trials > MAX_RESULTS:
        raise InvalidInput.for_field(
            "trials", f"scenarios x trials is {len(scenarios) * trials}, over {MAX_RESULTS}"
        )
    run = EvalRun.objects.create(
        team_id=agent.team_id,
        agent=agent,
        agent_version=pinned,
        version_number=pinned.number,
        trials=trials,
        total=len(scenarios) * trials,
        created_by=actor.person,
    )
    results = EvalResult.objects.bulk_create(
        EvalResult(
            run=run,
            team_id=agent.team_id,
            scenario=scenario,
            scenario_name=scenario.name,
            spec=scenario.spec,
            trial=trial,
        )
        for scenario in scenarios
        for trial in range(1, trials + 1)
    )
    if dispatch:
        for result in results:
            enqueue_on_commit(play_eval_result, str(result.id))
    return run


# Playing one result.


def _claim(result_id: UUID) -> EvalResult | None:
    """Take the result, if it is still to play (a task may be delivered twice)."""
    waiting = EvalResult.objects.filter(pk=result_id, status=ResultStatus.PENDING)
    if waiting.update(status=ResultStatus.RUNNING, started_at=timezone.now()) != 1:
        return None
    return EvalResult.objects.select_related("run__agent", "run__agent_version").get(pk=result_id)


def _session(result: EvalResult) -> Session:
    run = result.run
    session = session_create(
        agent=run.agent,
        type=SessionType.CHAT,
        version=run.agent_version,
        metadata={"eval_run": str(run.id), "scenario": result.scenario_name, "trial": result.trial},
        simulated=True,
    )
    EvalResult.objects.filter(pk=result.pk).update(session=session)
    return session


def _user_llm(session: Session, config: AgentConfiguration, spec: ScenarioSpec) -> UserLLM | None:
    """The LLM that plays the user (the agent's analysis LLM): none for a script."""
    if spec.scripted:
        return None
    try:
        endpoint, trusted, _ = analysis_llm(session=session, config=config)
    except Unusable as exc:
        raise _Unplayable(f"The simulated user's LLM cannot be used: {exc}") from None
    return UserLLM(endpoint, trusted, persona=spec.persona, goal=spec.goal)


class _Unplayable(Exception):
    pass


def _judged(session: Session, config: AgentConfiguration, spec: ScenarioSpec) -> list[CheckOutcome]:
    """Each criterion's verdict from the judge (the agent's analysis LLM, as analysis asks it)."""
    if not spec.criteria:
        return []
    names = [(criterion.name, "judged") for criterion in spec.criteria]
    try:
        endpoint, trusted, _ = analysis_llm(session=session, config=config)
        verdicts = analysis_judge(
            endpoint=endpoint,
            trusted=trusted,
            analysis=AnalysisConfig(success_criteria=spec.criteria),
            transcript=session_transcript(session=session),
        )["criteria"]
    except LLMFailure as failure:
        return not_checked(names, f"The judge's LLM failed: {failure.error.message}")
    except Unusable as exc:
        return not_checked(names, f"The judge's answer cannot be used: {exc}")
    return [_verdict(verdict) for verdict in verdicts]


def _verdict(verdict: dict[str, str]) -> CheckOutcome:
    reason = verdict["reason"]
    if verdict["result"] == "pass":
        return CheckOutcome(verdict["name"], "judged", Outcome.PASSED, reason)
    if verdict["result"] == "unknown":
        reason = f"The judge could not tell: {reason}" if reason else "The judge could not tell."
    return CheckOutcome(verdict["name"], "judged", Outcome.FAILED, reason)


def _status(outcomes: list[CheckOutcome]) -> ResultStatus:
    found = {outcome.outcome for outcome in outcomes}
    if Outcome.ERROR in found:
        return ResultStatus.ERROR
    return ResultStatus.FAILED if Outcome.FAILED in found else ResultStatus.PASSED


def _played(result: EvalResult, spec: ScenarioSpec) -> tuple[Played, list[CheckOutcome]]:
    session = _session(result)
    config = AgentConfiguration.model_validate(session_configuration(session=session))
    try:
        played = async_to_sync(play)(
            session=session, spec=spec, user=_user_llm(session, config, spec)
        )
    finally:
        session_end(session=session, reason="eval_finished")
    if played.error:
        return played, not_checked(check_names(spec), played.error)
    return played, check_all(session=session, spec=spec, played=played) + _judged(
        session, config, spec
    )


def eval_result_play(*, result_id: UUID) -> EvalResult | None:
    """Play one scenario x trial and record its outcome; None when it was not to play (taken
    already, or settled)."""
    result = _claim(result_id)
    if result is None:
        return None
    started = time.perf_counter()
    spec = ScenarioSpec.model_validate(result.spec)
    try:
        played, outcomes = _played(result, spec)
    except _Unplayable as exc:
        played, outcomes = Played(0, False, str(exc)), not_checked(check_names(spec), str(exc))
    except Exception as exc:  # the engine raised: recorded as this result's error, not lost
        logger.exception("Eval result %s could not be played", result_id)
        error = f"The conversation engine failed: {type(exc).__name__}: {exc}"
        played, outcomes = Played(0, False, error), not_checked(check_names(spec), error)
    status = ResultStatus.ERROR if played.error else _status(outcomes)
    took = round((time.perf_counter() - started) * 1000)
    _settle(
        result,
        status,
        checks=[outcome.as_document() for outcome in outcomes],
        error=played.error,
        turns=played.turns,
        ended=played.ended,
        duration_ms=took,
    )
    result.refresh_from_db()
    return result


_COUNTERS = {ResultStatus.PASSED: "passed", ResultStatus.FAILED: "failed"}


def _settle(result: EvalResult, status: ResultStatus, **fields: Any) -> None:
    """Record the outcome once, count it on the run, and finish the run with its last."""
    now = timezone.now()
    unsettled = EvalResult.objects.filter(
        pk=result.pk, status__in=[ResultStatus.PENDING, ResultStatus.RUNNING]
    )
    if unsettled.update(status=status, finished_at=now, **fields) != 1:
        return
    counter = _COUNTERS.get(status, "errors")
    EvalRun.objects.filter(pk=result.run_id).update(**{counter: F(counter) + 1})
    done = EvalRun.objects.filter(
        pk=result.run_id,
        status=RunStatus.RUNNING,
        total__lte=F("passed") + F("failed") + F("errors"),
    )
    done.filter(failed=0, errors=0).update(status=RunStatus.PASSED, finished_at=now)
    done.update(status=RunStatus.FAILED, finished_at=now)


def eval_run_play(*, run: EvalRun) -> EvalRun:
    """Play every result of the run here, in order (the command line's way, with no worker)."""
    for result_id in run.results.order_by("scenario_name", "trial").values_list("id", flat=True):
        eval_result_play(result_id=result_id)
    run.refresh_from_db()
    return run


# The reconciler.


def evals_reconcile(*, now: datetime | None = None) -> int:
    """Queue again the results whose message was lost; settle as errors those whose worker
    died mid-play. The number queued."""
    now = now or timezone.now()
    stuck = EvalResult.objects.filter(status=ResultStatus.RUNNING, started_at__lt=now - RUNNING_MAX)
    for result in stuck:
        _settle(result, ResultStatus.ERROR, error=WORKER_LOST)
    lost = EvalResult.objects.filter(
        status=ResultStatus.PENDING, run__created_at__lt=now - RECONCILE_AFTER
    ).values_list("id", flat=True)
    return sum(enqueue(play_eval_result, str(pk)) for pk in lost)
