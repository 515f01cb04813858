"""What a scenario is: one schema for the API, the dashboard and the runner.

A scenario's simulated user is either a persona and a goal (an LLM plays the user) or a fixed
script of user turns. Its checks are deterministic (a tool was called, the replies contain or
leave out a text, the conversation ended within N turns) or judged by an LLM (criteria as in
post-call analysis). Unknown keys are refused, as in the agent configuration."""

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from agents.configuration import SuccessCriterion
from parley.schemas import schema_check

FUNCTION_NAME = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"  # as a tool's name (tools/spec.py)
MAX_TURNS = 50


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _arguments_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """Held to a tool's own rules (parley.schemas): local $refs, RE2 patterns, bounded size."""
    if schema is not None:
        schema_check(schema)
    return schema


class ToolCalled(Section):
    """The agent called `tool`, at least once with arguments that match `arguments_schema`
    (a JSON Schema) and include the `arguments` given (each value equal)."""

    type: Literal["tool_called"]
    tool: str = Field(pattern=FUNCTION_NAME)
    arguments_schema: Annotated[dict[str, Any] | None, AfterValidator(_arguments_schema)] = None
    arguments: dict[str, Any] | None = Field(default=None, max_length=50)

    @property
    def label(self) -> str:
        return f"called {self.tool}"


class ReplyContains(Section):
    """One of the agent's replies contains `text` (case ignored)."""

    type: Literal["reply_contains"]
    text: str = Field(min_length=1, max_length=1000)

    @property
    def label(self) -> str:
        return f"a reply contains {self.text!r}"


class ReplyExcludes(Section):
    """None of the agent's replies contains `text` (case ignored)."""

    type: Literal["reply_excludes"]
    text: str = Field(min_length=1, max_length=1000)

    @property
    def label(self) -> str:
        return f"no reply contains {self.text!r}"


class EndedWithin(Section):
    """The simulated user was done (its goal reached, or its script said) within `turns`."""

    type: Literal["ended_within"]
    turns: int = Field(ge=1, le=MAX_TURNS)

    @property
    def label(self) -> str:
        return f"ended within {self.turns} turns"


Check = Annotated[
    ToolCalled | ReplyContains | ReplyExcludes | EndedWithin, Field(discriminator="type")
]


def _distinct_names(criteria: list[SuccessCriterion]) -> list[SuccessCriterion]:
    names = [criterion.name for criterion in criteria]
    if len(set(names)) < len(names):
        raise ValueError("each criterion needs a name of its own")
    return criteria


def _distinct_labels(checks: list[Check]) -> list[Check]:
    labels = [check.label for check in checks]
    if len(set(labels)) < len(labels):
        raise ValueError("a check is listed twice")
    return checks


ToolReply = Annotated[str, Field(max_length=16_000)]
UserTurn = Annotated[str, Field(min_length=1, max_length=4000)]


class ScenarioSpec(Section):
    """A scenario's settings, as stored on EvalScenario and played by a run."""

    persona: str = Field(default="", max_length=4000, description="Who the simulated user is.")
    goal: str = Field(default="", max_length=4000, description="What the simulated user wants.")
    script: list[UserTurn] = Field(
        default_factory=list, max_length=MAX_TURNS, description="Fixed user turns, in order."
    )
    max_turns: int = Field(default=10, ge=1, le=MAX_TURNS)
    checks: Annotated[list[Check], AfterValidator(_distinct_labels)] = Field(
        default_factory=list, max_length=30
    )
    criteria: Annotated[list[SuccessCriterion], AfterValidator(_distinct_names)] = Field(
        default_factory=list, max_length=20, description="Judged by an LLM, as in analysis."
    )
    tool_replies: dict[Annotated[str, Field(pattern=FUNCTION_NAME)], ToolReply] = Field(
        default_factory=dict,
        max_length=50,
        description="Tool name → the reply given instead of calling it.",
    )

    @model_validator(mode="after")
    def _one_user(self) -> "ScenarioSpec":
        if self.script and (self.persona.strip() or self.goal.strip()):
            raise ValueError("give either a script of user turns, or a persona and goal: not both")
        if not self.script and not self.goal.strip():
            raise ValueError("give the simulated user a goal (and a persona), or a script")
        return self

    @property
    def scripted(self) -> bool:
        return bool(self.script)

    def as_document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
