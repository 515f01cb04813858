import difflib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.db.models.fields.json import KT

from parley.diff import changes
from parley.errors import Gone, NotFound
from teams.models import Team

from .models import Agent, AgentQuerySet, AgentVersion

NOT_FOUND = "No agent with this id exists in your team."
NO_VERSION = "This agent has no version {number}."
PROMPT = "llm.system_prompt"


def agent_list(
    *, team: Team, publish_status: str | None = None, kind: str | None = None
) -> AgentQuerySet:
    """The team's usable agents, newest first; expired single-use agents are left out."""
    agents = Agent.objects.filter(team=team).unexpired().order_by("-created_at", "-id")
    if publish_status:
        agents = agents.filter(publish_status=publish_status)
    if kind:
        agents = agents.filter(kind=kind)
    return agents


def agent_search(
    *, team: Team, kind: str, name_contains: str = "", publish_status: str | None = None
) -> AgentQuerySet:
    """The dashboard's list: `agent_list` narrowed by name, carrying only the LLM's provider and
    model (as `llm_provider`, `llm_model`) instead of the whole configuration document."""
    agents = agent_list(team=team, publish_status=publish_status, kind=kind)
    if name_contains:
        agents = agents.filter(name__icontains=name_contains)
    return agents.defer("configuration", "metadata").annotate(
        llm_provider=KT("configuration__llm__provider"), llm_model=KT("configuration__llm__model")
    )


def agent_get(*, team: Team, agent_id: UUID) -> Agent:
    """One of the team's agents. Another team's agent is simply not found."""
    try:
        agent = Agent.objects.get(team=team, id=agent_id)
    except Agent.DoesNotExist:
        raise NotFound(NOT_FOUND) from None
    if agent.is_expired():
        raise Gone(f"This single-use agent expired at {agent.expires_at:%Y-%m-%dT%H:%M:%SZ}.")
    return agent


def agent_versions(*, agent: Agent) -> QuerySet[AgentVersion]:
    """The agent's versions, newest first, with their authors."""
    return agent.versions.select_related("author", "agent").order_by("-number")


def agent_version_get(*, agent: Agent, number: int) -> AgentVersion:
    try:
        return agent.versions.select_related("author", "agent").get(number=number)
    except AgentVersion.DoesNotExist:
        raise NotFound(NO_VERSION.format(number=number)) from None


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class PromptLine:
    kind: str  # same, removed, added
    text: str


@dataclass(frozen=True)
class ToolChange:
    id: str
    name: str
    change: str  # added, removed, changed
    fields: list[str]


@dataclass(frozen=True)
class VersionDiff:
    from_version: int
    to_version: int
    fields: list[FieldChange]
    system_prompt: list[PromptLine]
    tools: list[ToolChange]


def _prompt_lines(before: str, after: str) -> list[PromptLine]:
    if before == after:
        return []
    kinds = {" ": "same", "-": "removed", "+": "added"}
    return [
        PromptLine(kinds[line[0]], line[2:])
        for line in difflib.ndiff(before.splitlines(), after.splitlines())
        if line[0] in kinds
    ]


def _tool_changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[ToolChange]:
    old, new = {t["id"]: t for t in before}, {t["id"]: t for t in after}
    found = []
    for tool_id in sorted(old.keys() | new.keys(), key=lambda i: (new.get(i) or old[i])["name"]):
        if tool_id not in old:
            found.append(ToolChange(tool_id, new[tool_id]["name"], "added", []))
        elif tool_id not in new:
            found.append(ToolChange(tool_id, old[tool_id]["name"], "removed", []))
        elif fields := [p for p in changes(old[tool_id], new[tool_id]) if p != "version"]:
            found.append(ToolChange(tool_id, new[tool_id]["name"], "changed", fields))
    return found


def agent_version_diff(*, agent: Agent, from_number: int, to_number: int) -> VersionDiff:
    """What changed from one version to another: each configuration field (and the name), the
    system prompt line by line, and the tools added, removed or changed."""
    old = agent_version_get(agent=agent, number=from_number)
    new = agent_version_get(agent=agent, number=to_number)
    before = {"name": old.name} | {"configuration": old.configuration}
    after = {"name": new.name} | {"configuration": new.configuration}
    fields = [
        FieldChange(path.removeprefix("configuration."), values[0], values[1])
        for path, values in changes(before, after).items()
        if path != f"configuration.{PROMPT}"
    ]
    prompts = [str(v.configuration.get("llm", {}).get("system_prompt") or "") for v in (old, new)]
    return VersionDiff(
        from_version=old.number,
        to_version=new.number,
        fields=fields,
        system_prompt=_prompt_lines(*prompts),
        tools=_tool_changes(old.tools, new.tools),
    )
