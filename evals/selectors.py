"""Reads for the evals pages and API: a suite, a run's results by scenario with their pass
rates (flaky when a scenario's trials disagree), and the comparison of two runs."""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db.models import QuerySet

from agents.models import Agent
from parley.errors import InvalidInput, NotFound
from teams.models import Team

from .models import EvalResult, EvalRun, EvalScenario, ResultStatus

NO_SCENARIO = "No such scenario in this team."
NO_RUN = "No such eval run in this team."


def scenario_list(*, agent: Agent) -> QuerySet[EvalScenario]:
    return EvalScenario.objects.filter(agent=agent).order_by("name")


def scenario_get(*, team: Team, scenario_id: UUID) -> EvalScenario:
    try:
        return EvalScenario.objects.select_related("agent").get(team=team, pk=scenario_id)
    except EvalScenario.DoesNotExist:
        raise NotFound(NO_SCENARIO) from None


def run_list(*, agent: Agent) -> QuerySet[EvalRun]:
    return EvalRun.objects.filter(agent=agent).select_related("created_by").order_by("-created_at")


def run_get(*, team: Team, run_id: UUID) -> EvalRun:
    try:
        return EvalRun.objects.select_related("agent", "created_by").get(team=team, pk=run_id)
    except EvalRun.DoesNotExist:
        raise NotFound(NO_RUN) from None


def _rate(passed: int, total: int) -> float | None:
    return round(passed / total, 4) if total else None


@dataclass
class CheckRate:
    name: str
    kind: str
    passed: int = 0
    total: int = 0  # trials in which the check had an outcome

    @property
    def rate(self) -> float | None:
        return _rate(self.passed, self.total)


@dataclass
class ScenarioRate:
    """One scenario's trials in a run: how many passed, and each check's pass rate."""

    name: str
    results: list[EvalResult] = field(default_factory=list)
    checks: dict[str, CheckRate] = field(default_factory=dict)

    @property
    def settled(self) -> list[EvalResult]:
        return [result for result in self.results if result.is_settled]

    @property
    def passed(self) -> int:
        return sum(result.status == ResultStatus.PASSED for result in self.results)

    @property
    def rate(self) -> float | None:
        return _rate(self.passed, len(self.settled))

    @property
    def flaky(self) -> bool:
        """Its trials disagree: some passed, some did not."""
        return 0 < self.passed < len(self.settled)

    def as_document(self) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "trials": len(self.results),
            "passed": self.passed,
            "pass_rate": self.rate,
            "flaky": self.flaky,
            "checks": [
                {"name": c.name, "kind": c.kind, "passed": c.passed, "pass_rate": c.rate}
                for c in self.checks.values()
            ],
        }


def run_results(*, run: EvalRun) -> list[EvalResult]:
    return list(run.results.order_by("scenario_name", "trial"))


def run_rates(*, run: EvalRun, results: list[EvalResult] | None = None) -> list[ScenarioRate]:
    """Each scenario of the run, by name, with its trials and pass rates."""
    scenarios: dict[str, ScenarioRate] = {}
    for result in results if results is not None else run_results(run=run):
        scenario = scenarios.setdefault(result.scenario_name, ScenarioRate(result.scenario_name))
        scenario.results.append(result)
        for check in result.checks:
            name = str(check.get("name"))
            rate = scenario.checks.setdefault(name, CheckRate(name, str(check.get("kind"))))
            rate.total += 1
            rate.passed += check.get("outcome") == "passed"
    return list(scenarios.values())


# Comparing two runs.


def _change(before: float | None, after: float | None) -> str:
    if before is None and after is None:
        return "same"
    if before is None:
        return "new"
    if after is None:
        return "gone"
    return "better" if after > before else "worse" if after < before else "same"


@dataclass(frozen=True)
class RateChange:
    name: str
    before: float | None  # pass rate in the first run; None when it was not there
    after: float | None
    change: str  # better, worse, same, new, gone

    def as_document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "change": self.change,
        }


@dataclass(frozen=True)
class ScenarioChange(RateChange):
    checks: list[RateChange] = field(default_factory=list)

    def as_document(self) -> dict[str, Any]:
        return super().as_document() | {"checks": [c.as_document() for c in self.checks]}


def runs_compare(*, before: EvalRun, after: EvalRun) -> list[ScenarioChange]:
    """What got better or worse from one run of an agent's suite to another, scenario by
    scenario and check by check, as pass rates."""
    if before.agent_id != after.agent_id:
        raise InvalidInput.for_field("with", "is a run of another agent's suite")
    rates = [{s.name: s for s in run_rates(run=run)} for run in (before, after)]
    names = list(rates[0]) + [name for name in rates[1] if name not in rates[0]]
    changes = []
    for name in names:
        old, new = rates[0].get(name), rates[1].get(name)
        checks: dict[str, list[float | None]] = defaultdict(lambda: [None, None])
        for side, scenario in enumerate((old, new)):
            for check in scenario.checks.values() if scenario else []:
                checks[check.name][side] = check.rate
        pair = (old.rate if old else None, new.rate if new else None)
        changes.append(
            ScenarioChange(
                name,
                *pair,
                _change(*pair),
                checks=[RateChange(n, b, a, _change(b, a)) for n, (b, a) in checks.items()],
            )
        )
    return changes
