"""The deterministic checks of a played scenario, read from its session's timeline: the tools
the agent called and with what, what its replies said, and whether the user was done in time.
(The judged ones, criteria, are asked of an LLM: services._judged.)"""

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from jsonschema.exceptions import best_match

from parley.schemas import SchemaRefused, safe_validator
from sessions.models import EventKind, Session, SessionEvent

from .simulation import Played
from .spec import EndedWithin, ReplyContains, ReplyExcludes, ScenarioSpec, ToolCalled

EXCERPT = 200


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # could not be judged


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    kind: str  # tool_called, reply_contains, reply_excludes, ended_within, judged
    outcome: Outcome
    reason: str

    def as_document(self) -> dict[str, str]:
        return {
            "name": self.name,
            "kind": self.kind,
            "outcome": str(self.outcome),
            "reason": self.reason,
        }


def _ended_check(spec: ScenarioSpec) -> EndedWithin:
    """Every scenario must end within its turns: one that never ends fails, never passes."""
    return EndedWithin(type="ended_within", turns=spec.max_turns)


def _checks(spec: ScenarioSpec) -> list[Any]:
    ended = _ended_check(spec)
    implicit = [] if any(c.label == ended.label for c in spec.checks) else [ended]
    return [*spec.checks, *implicit]


def check_names(spec: ScenarioSpec) -> list[tuple[str, str]]:
    """(name, kind) of every check of the scenario, judged ones last."""
    names = [(check.label, check.type) for check in _checks(spec)]
    return names + [(criterion.name, "judged") for criterion in spec.criteria]


def not_checked(names: list[tuple[str, str]], why: str) -> list[CheckOutcome]:
    return [CheckOutcome(name, kind, Outcome.ERROR, f"Not checked: {why}") for name, kind in names]


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: true is not 1."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _argument_problem(check: ToolCalled, arguments: Any) -> str | None:
    if not isinstance(arguments, dict) or "not_an_object" in arguments:
        return "the arguments were not a JSON object"
    if check.arguments_schema is not None:
        error = best_match(safe_validator(check.arguments_schema).iter_errors(arguments))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path)
            return f"{error.message}{f' at {where}' if where else ''}"
    for key, wanted in (check.arguments or {}).items():
        if not _same(arguments.get(key), wanted):
            got = json.dumps(arguments.get(key), ensure_ascii=False)
            return f"{key} was {got}, not {json.dumps(wanted, ensure_ascii=False)}"
    return None


def _tool_called(check: ToolCalled, calls: list[dict[str, Any]]) -> tuple[Outcome, str]:
    made = [call for call in calls if call.get("tool_name") == check.tool]
    if not made:
        others = sorted({str(call.get("tool_name")) for call in calls})
        also = f" It called {', '.join(others)}." if others else ""
        return Outcome.FAILED, f"The agent never called {check.tool}.{also}"
    try:
        problems = [_argument_problem(check, call.get("arguments")) for call in made]
    except SchemaRefused as exc:
        return Outcome.ERROR, f"The check's arguments schema is refused: {exc}"
    for call, problem in zip(made, problems, strict=True):
        if problem is None:
            shown = json.dumps(call.get("arguments"), ensure_ascii=False)
            return Outcome.PASSED, f"Called with {_excerpt(shown)}."
    times = f"{len(made)} time{'s' if len(made) > 1 else ''}"
    return Outcome.FAILED, f"Called {times}, never with the arguments asked: {problems[0]}."


def _contains(text: str, replies: list[str]) -> tuple[int, str] | None:
    for number, reply in enumerate(replies, start=1):
        if text.casefold() in reply.casefold():
            return number, reply
    return None


def _reply_check(check: ReplyContains | ReplyExcludes, replies: list[str]) -> tuple[Outcome, str]:
    found = _contains(check.text, replies)
    said = f"Reply {found[0]}: {_excerpt(found[1])!r}" if found else ""
    if isinstance(check, ReplyContains):
        if found:
            return Outcome.PASSED, said
        return Outcome.FAILED, f"None of the agent's {len(replies)} replies contains it."
    if found:
        return Outcome.FAILED, said
    return Outcome.PASSED, f"None of the agent's {len(replies)} replies contains it."


def _turns(count: int) -> str:
    return f"{count} turn{'' if count == 1 else 's'}"


def _ended(check: EndedWithin, played: Played) -> tuple[Outcome, str]:
    turns = _turns(played.turns)
    if not played.ended:
        return Outcome.FAILED, f"The conversation was still going after {turns}."
    if played.turns > check.turns:
        return Outcome.FAILED, f"The user was done only after {turns}."
    return Outcome.PASSED, f"The user was done after {turns}."


def _timeline(session: Session) -> tuple[list[str], list[dict[str, Any]]]:
    """The agent's replies (failure messages left out) and its tool calls, in order."""
    replies, calls = [], []
    events = SessionEvent.objects.filter(
        session=session, kind__in=[EventKind.MESSAGE, EventKind.TOOL_CALL]
    ).order_by("seq")
    for kind, data in events.values_list("kind", "data"):
        if not isinstance(data, dict):
            continue
        if kind == EventKind.TOOL_CALL:
            calls.append(data)
        elif data.get("role") == "assistant" and not data.get("failure"):
            replies.append(str(data.get("content") or ""))
    return replies, calls


def check_all(*, session: Session, spec: ScenarioSpec, played: Played) -> list[CheckOutcome]:
    """The outcome of each deterministic check, the scenario's implicit "ended" one included."""
    replies, calls = _timeline(session)
    outcomes = []
    for check in _checks(spec):
        if isinstance(check, ToolCalled):
            outcome, reason = _tool_called(check, calls)
        elif isinstance(check, EndedWithin):
            outcome, reason = _ended(check, played)
        else:
            outcome, reason = _reply_check(check, replies)
        outcomes.append(CheckOutcome(check.label, check.type, outcome, reason))
    return outcomes
