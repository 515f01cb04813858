from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema
from ninja.schema import DjangoGetter
from pydantic import ConfigDict, model_validator

from config.bodies import BodyIn

from .models import EvalRun, EvalScenario
from .services import MAX_TRIALS
from .spec import ScenarioSpec

SPEC_HELP = (
    "The simulated user (`script`, or `persona` and `goal`), `max_turns`, the deterministic "
    "`checks`, the judged `criteria` and the canned `tool_replies` (docs/evals.md)."
)


class ScenarioIn(BodyIn):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    spec: ScenarioSpec = Field(description=SPEC_HELP)


class ScenarioPatch(BodyIn):
    """Only the fields sent change; a `spec` sent replaces the scenario's whole."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    spec: ScenarioSpec | None = Field(None, description=SPEC_HELP)


class ScenarioOut(Schema):
    id: UUID
    agent_id: UUID
    name: str
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_spec(scenario: EvalScenario) -> dict[str, Any]:
        return scenario.spec


class RunIn(BodyIn):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        None, ge=1, description="The version's number; by default the draft, else the published."
    )
    trials: int = Field(1, ge=1, le=MAX_TRIALS, description="How often each scenario is played.")


class CheckOut(Schema):
    name: str
    kind: Literal["tool_called", "reply_contains", "reply_excludes", "ended_within", "judged"]
    outcome: Literal["passed", "failed", "error"]
    reason: str


class ResultOut(Schema):
    id: UUID
    scenario_id: UUID | None
    scenario: str
    trial: int
    status: Literal["pending", "running", "passed", "failed", "error"]
    checks: list[CheckOut]
    error: str = Field(description="Why the conversation could not be played; empty otherwise.")
    session_id: UUID | None = Field(description="The simulated session it played.")
    turns: int
    ended: bool = Field(description="Whether the simulated user was done within max_turns.")
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None


class CheckRateOut(Schema):
    name: str
    kind: str
    passed: int
    pass_rate: float | None


class ScenarioRateOut(Schema):
    scenario: str
    trials: int
    passed: int
    pass_rate: float | None
    flaky: bool = Field(description="Some trials passed and some did not.")
    checks: list[CheckRateOut]


class RunSummaryOut(Schema):
    id: UUID
    agent_id: UUID
    version: int
    status: Literal["running", "passed", "failed"]
    trials: int
    total: int
    passed: int
    failed: int
    errors: int = Field(description="Results that could not be played or judged.")
    created_by: str | None
    created_at: datetime
    finished_at: datetime | None
    duration_ms: int | None

    @model_validator(mode="before")
    @classmethod
    def _from_run(cls, data: Any) -> Any:
        # Read from the run's own document, whether given the row (a list) or the document.
        run = data._obj if isinstance(data, DjangoGetter) else data
        return run.as_document() if isinstance(run, EvalRun) else data


class RunOut(RunSummaryOut):
    scenarios: list[ScenarioRateOut]
    results: list[ResultOut]


class CompareQuery(Schema):
    base: UUID | None = Field(None, description="The run to compare with, of the same suite.")


class RateChangeOut(Schema):
    name: str
    before: float | None = Field(description="Pass rate in the base run; null if not there.")
    after: float | None
    change: Literal["better", "worse", "same", "new", "gone"]


class ScenarioChangeOut(RateChangeOut):
    checks: list[RateChangeOut]


class CompareOut(Schema):
    base: UUID
    run: UUID
    scenarios: list[ScenarioChangeOut]
