"""Parley's agents and tools as iwy's API takes them, and back.

Only the fields iwy documents are published (platform-apis.md §1.1, §1.3). Parley's own settings
(temperature, turn-taking, limits, allowed origins…) stay in Parley: iwy has no place for them,
and they are neither sent nor touched when iwy's side is taken. An agent's tool ids are Parley's
in Parley and iwy's on iwy, mapped through the tools' links."""

import copy
from typing import Any

from agents.models import Agent
from parley.diff import flatten
from parley.errors import InvalidInput
from tools.models import Tool
from tools.spec import auth_config_masked, headers_masked

from .models import ToolLink

# The configuration fields an iwy agent has, section by section ("" for top-level ones).
AGENT_CONFIGURATION_FIELDS: dict[str, tuple[str, ...]] = {
    "llm": ("provider", "model", "system_prompt", "first_message", "voice", "custom_url"),
    "stt": ("provider", "model"),
    "tts": ("provider", "voice_id"),
    "video": ("provider", "character_id"),
    "tool_calling": ("selected_tool_ids",),
    "end_of_conversation": ("callback_url", "send_data_on_end"),
    "": ("version",),
}
AGENT_FIELDS = ("name", "publish_status", "configuration", "metadata")
TOOL_FIELDS = (
    "name",
    "description",
    "server_url",
    "parameters_schema",
    "method",
    "headers",
    "timeout_seconds",
    "is_async",
    "strict_params",
    "auth_config",
    "tags",
)
SECRET_PATHS = ("headers.", "auth_config.")


def _section(document: dict[str, Any], section: str) -> dict[str, Any]:
    found = document.get(section) if section else document
    return found if isinstance(found, dict) else {}


def configuration_projected(document: dict[str, Any]) -> dict[str, Any]:
    """The iwy fields of a configuration document, unset (None) ones left out."""
    projected: dict[str, Any] = {}
    for section, fields in AGENT_CONFIGURATION_FIELDS.items():
        values = _section(document, section)
        kept = {f: values[f] for f in fields if values.get(f) is not None}
        if section == "":
            projected |= kept
        elif kept:
            projected[section] = kept
    return projected


def configuration_merged(remote: dict[str, Any], local: dict[str, Any]) -> dict[str, Any]:
    """iwy's configuration with every iwy field set as in `local` (projected): what iwy keeps
    of its own (cost_per_minute…) stays, a field Parley leaves unset is sent as null."""
    merged = copy.deepcopy(remote) if isinstance(remote, dict) else {}
    for section, fields in AGENT_CONFIGURATION_FIELDS.items():
        target = merged if section == "" else merged.setdefault(section, {})
        if not isinstance(target, dict):
            target = merged[section] = {}
        source = _section(local, section)
        for field in fields:
            if field in source:
                target[field] = source[field]
            elif field in target:
                target[field] = None
    return merged


def selected_tool_ids(document: dict[str, Any]) -> list[str]:
    return [str(i) for i in _section(document, "tool_calling").get("selected_tool_ids") or []]


def tools_not_on_iwy(team_id: int, document: dict[str, Any]) -> list[Tool]:
    """The tools a configuration selects that have no copy on iwy yet."""
    ids = selected_tool_ids(document)
    return list(
        Tool.objects.filter(team_id=team_id, id__in=ids, iwy_link__isnull=True).order_by("name")
    )


def _tool_ids_to_iwy(team_id: int, ids: list[str]) -> list[str]:
    linked = ToolLink.objects.filter(team_id=team_id, tool_id__in=ids)
    links = {str(key): value for key, value in linked.values_list("tool_id", "remote_id")}
    if missing := [i for i in ids if i not in links]:
        names = Tool.objects.filter(team_id=team_id, id__in=missing).values_list("name", flat=True)
        raise InvalidInput.for_field(
            "configuration.tool_calling.selected_tool_ids",
            f"publish these tools to iwy first: {', '.join(sorted(names)) or ', '.join(missing)}",
        )
    return [links[i] for i in ids]


def configuration_for_iwy(team_id: int, document: dict[str, Any]) -> dict[str, Any]:
    """A Parley configuration as iwy takes it: iwy's fields, tools by their iwy ids. Raises
    InvalidInput naming the selected tools that are not on iwy yet."""
    configuration = configuration_projected(document)
    if ids := selected_tool_ids(document):
        configuration["tool_calling"] = {"selected_tool_ids": _tool_ids_to_iwy(team_id, ids)}
    return configuration


def agent_document(agent: Agent) -> dict[str, Any]:
    """The agent as Parley publishes it to iwy."""
    return {
        "name": agent.name,
        "publish_status": agent.publish_status,
        "configuration": configuration_for_iwy(agent.team_id, agent.configuration),
        "metadata": agent.metadata or {},
    }


def agent_remote_document(remote: dict[str, Any]) -> dict[str, Any]:
    """iwy's agent object reduced to what Parley publishes: what drift is measured on."""
    document = {field: remote.get(field) for field in AGENT_FIELDS}
    document["configuration"] = configuration_projected(remote.get("configuration") or {})
    document["metadata"] = remote.get("metadata") or {}
    return document


def tool_document(tool: Tool) -> dict[str, Any]:
    """The tool as Parley publishes it: headers and auth in clear, as iwy needs them to call
    the webhook. No auth is {}, iwy's default."""
    document = {field: getattr(tool, field) for field in TOOL_FIELDS}
    document["headers"] = dict(tool.headers or {})
    auth = dict(tool.auth_config or {})
    document["auth_config"] = {} if auth.get("type", "none") == "none" else auth
    document["tags"] = list(tool.tags or [])
    return document


def tool_remote_document(remote: dict[str, Any]) -> dict[str, Any]:
    document = {field: remote.get(field) for field in TOOL_FIELDS}
    for field, empty in (("headers", {}), ("auth_config", {}), ("tags", [])):
        document[field] = remote.get(field) or empty
    return document


def changed_fields(now: dict[str, Any], then: dict[str, Any]) -> list[str]:
    """The top-level fields whose value differs."""
    return [field for field in now if now.get(field) != then.get(field)]


def _shown(path: str, value: Any) -> Any:
    """A value for people: header values and auth secrets masked."""
    if value is None or not path.startswith(SECRET_PATHS):
        return value
    head, _, key = path.partition(".")
    masked = headers_masked({key: value}) if head == "headers" else auth_config_masked({key: value})
    return masked[key]


def field_diff(
    local: dict[str, Any],
    remote: dict[str, Any],
    local_synced: dict[str, Any],
    remote_synced: dict[str, Any],
) -> list[dict[str, Any]]:
    """One row per leaf field where Parley and iwy differ now: both values (secrets masked)
    and which side changed it since the last sync."""
    flat = [flatten(d) for d in (local, remote, local_synced, remote_synced)]
    paths = sorted(flat[0].keys() | flat[1].keys())
    return [
        {
            "field": path,
            "parley": _shown(path, flat[0].get(path)),
            "iwy": _shown(path, flat[1].get(path)),
            "parley_changed": flat[0].get(path) != flat[2].get(path),
            "iwy_changed": flat[1].get(path) != flat[3].get(path),
        }
        for path in paths
        if flat[0].get(path) != flat[1].get(path)
    ]


def _tool_ids_from_iwy(agent: Agent, remote_ids: list[str]) -> list[str]:
    links = dict(
        ToolLink.objects.filter(team_id=agent.team_id, remote_id__in=remote_ids).values_list(
            "remote_id", "tool_id"
        )
    )
    if unknown := [i for i in remote_ids if i not in links]:
        raise InvalidInput.for_field(
            "configuration.tool_calling.selected_tool_ids",
            f"iwy's agent uses tools no Parley tool is linked to: {', '.join(unknown)}",
        )
    return [str(links[i]) for i in remote_ids]


def agent_changes_from_remote(agent: Agent, remote: dict[str, Any]) -> dict[str, Any]:
    """iwy's side (agent_remote_document) as changes for agents.services.agent_update: the
    configuration as a merge patch of iwy's fields, where one iwy leaves unset is removed
    (back to Parley's default). Parley's own fields are left as they are."""
    configuration = remote.get("configuration") or {}
    patch: dict[str, Any] = {}
    for section, fields in AGENT_CONFIGURATION_FIELDS.items():
        source = _section(configuration, section)
        values = {field: source.get(field) for field in fields}
        if section == "":
            patch |= values
        else:
            patch[section] = values
    remote_ids = patch["tool_calling"]["selected_tool_ids"] or []
    patch["tool_calling"]["selected_tool_ids"] = _tool_ids_from_iwy(agent, remote_ids)
    fields = ("name", "publish_status", "metadata")
    changes = {f: remote[f] for f in fields if remote.get(f) is not None}
    return changes | {"configuration": patch}


def tool_changes_from_remote(remote: dict[str, Any]) -> dict[str, Any]:
    """iwy's side as changes for tools.services.tool_update; a header iwy shows as
    [REDACTED] keeps Parley's stored value."""
    return {field: remote[field] for field in TOOL_FIELDS if remote.get(field) is not None}
