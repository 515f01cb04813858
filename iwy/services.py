"""The iwy account, publishing, and keeping both sides in step without overwriting either.

A link is `pending` while Parley has changes to push, `drift` once iwy's copy changed since the
last sync (nothing is pushed then until a person chooses a side), `error` when iwy refused a
change for a reason retrying will not fix. Parley's side is compared with what it last pushed,
iwy's with what iwy last answered (iwy/models.py)."""

import logging
from typing import Any, cast

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from activity.models import Action, TargetType
from activity.services import SYSTEM, Actor, activity_record
from agents.models import Agent, AgentKind, VersionSource
from agents.services import agent_configuration_validate, agent_update
from parley.errors import Conflict, InvalidInput
from providers.catalog import api_key_hint
from teams.models import Team
from tools.models import Tool
from tools.services import tool_update

from . import documents
from .client import IwyError, iwy_create, iwy_ephemeral_create, iwy_get, iwy_patch
from .hooks import push_later
from .models import AgentLink, IwyAccount, Link, MintedAgent, SyncState, ToolLink

logger = logging.getLogger(__name__)

LinkModel = type[AgentLink] | type[ToolLink]

NO_ACCOUNT = (
    "This team has no iwy account connected. An owner or admin connects one on the iwy page "
    "(Settings → iwy, /iwy/) with an iwy Service API key from app.iwy.ai/settings."
)
ACCOUNT_LABEL = "iwy account"
API_KEY_MAX = 1000


# The account.


def _clean_key(typed: str) -> str:
    key = (typed or "").strip()
    if not key:
        raise InvalidInput.for_field("api_key", "Paste the iwy Service API key.")
    if len(key) > API_KEY_MAX or not key.isprintable() or any(c.isspace() for c in key):
        raise InvalidInput.for_field(
            "api_key", "An API key has no spaces or line breaks; paste the key alone."
        )
    return key


def _api_key(team: Team) -> str:
    account = IwyAccount.objects.filter(team=team).first()
    if account is None or not account.api_key:
        raise Conflict(NO_ACCOUNT, details={"missing": "iwy_account"})
    return account.api_key


def _record_account(team: Team, actor: Actor, action: Action, hint: str | None) -> None:
    activity_record(
        team=team,
        actor=actor,
        action=action,
        target_type=TargetType.PROVIDER,
        target_id="iwy",
        target_label=ACCOUNT_LABEL,
        before=None if action == Action.DELETED else {},
        after={"api_key": hint} if hint else None,
    )


@transaction.atomic
def account_connect(*, team: Team, actor: Actor, api_key: str) -> IwyAccount:
    """Store (or replace) the team's iwy Service API key. iwy documents no call that only
    checks a key, so the key is saved as given; the first publish or pull shows a refusal."""
    key = _clean_key(api_key)
    account = IwyAccount.objects.select_for_update().filter(team=team).first()
    created = account is None
    account = account or IwyAccount(team=team, created_by=actor.person)
    account.credentials = {"api_key": key}
    account.updated_at = timezone.now()
    account.save()
    _record_account(team, actor, Action.CREATED if created else Action.UPDATED, api_key_hint(key))
    return account


@transaction.atomic
def account_disconnect(*, team: Team, actor: Actor) -> None:
    """Forget the key. The links stay, paused: connecting the same account resumes them."""
    deleted, _ = IwyAccount.objects.filter(team=team).delete()
    if deleted:
        _record_account(team, actor, Action.DELETED, None)


# Links, whichever kind.


def _kind(link: Link) -> str:
    return "agent" if isinstance(link, AgentLink) else "tool"


def _local(link: Link) -> dict[str, Any]:
    if isinstance(link, AgentLink):
        return documents.agent_document(link.agent)
    return documents.tool_document(cast(ToolLink, link).tool)


def _remote(link: Link, answer: dict[str, Any]) -> dict[str, Any]:
    if isinstance(link, AgentLink):
        return documents.agent_remote_document(answer)
    return documents.tool_remote_document(answer)


def _fetch(link: Link, api_key: str) -> dict[str, Any]:
    return iwy_get(api_key=api_key, kind=_kind(link), remote_id=link.remote_id)


def _agreed(link: Link, local: dict[str, Any], remote: dict[str, Any]) -> None:
    """Both sides agree as they are now: the new baseline."""
    link.local_synced, link.remote_synced, link.remote_seen = local, remote, None
    link.state, link.last_error, link.synced_at = SyncState.IN_SYNC, "", timezone.now()
    link.save()


def _body(
    link: Link, local: dict[str, Any], raw: dict[str, Any], fields: list[str]
) -> dict[str, Any]:
    """The PATCH body: the changed fields. An agent's configuration goes whole, iwy's own
    fields kept, so it means the same whether iwy merges it or replaces it."""
    body = {field: local[field] for field in fields}
    if "configuration" in body:
        body["configuration"] = documents.configuration_merged(
            raw.get("configuration") or {}, local["configuration"]
        )
    return body


def _push_now(link: Link, api_key: str, *, force: bool) -> str:
    local = _local(link)
    raw = _fetch(link, api_key)
    remote = _remote(link, raw)
    if not force and remote != link.remote_synced:
        link.state, link.remote_seen, link.last_error = SyncState.DRIFT, remote, ""
        link.save(update_fields=["state", "remote_seen", "last_error"])
        return "drift"
    fields = documents.changed_fields(local, remote if force else link.local_synced)
    if fields:
        changes = _body(link, local, raw, fields)
        raw = iwy_patch(
            api_key=api_key, kind=_kind(link), remote_id=link.remote_id, changes=changes
        )
    _agreed(link, local, _remote(link, raw))
    return "pushed" if fields else "nothing"


def link_model(link: Link) -> LinkModel:
    return AgentLink if isinstance(link, AgentLink) else ToolLink


def _locked(model: LinkModel, link_id: Any) -> AgentLink | ToolLink | None:
    return model.objects.select_for_update().filter(pk=link_id).first()


def _record_failure(model: LinkModel, link_id: Any, exc: Exception, *, final: bool) -> None:
    message = getattr(exc, "message", str(exc))
    changes: dict[str, Any] = {"last_error": message}
    if final:
        changes["state"] = SyncState.ERROR
    model.objects.filter(pk=link_id).exclude(state=SyncState.DRIFT).update(**changes)


def link_push(*, model: LinkModel, link_id: Any) -> str:
    """Push Parley's changes since the last sync: PATCH only the changed fields, after checking
    that iwy's copy did not change meanwhile (then it is drift, and nothing is pushed).
    Returns "pushed", "nothing", "drift", "paused" (no account) or "gone"; raises IwyError
    after recording it (a lasting one marks the link failed, a passing one is for retrying)."""
    try:
        with transaction.atomic():
            link = _locked(model, link_id)
            if link is None:
                return "gone"
            if link.state == SyncState.DRIFT:
                return "drift"
            if not documents.changed_fields(_local(link), link.local_synced):
                model.objects.filter(pk=link.pk).update(state=SyncState.IN_SYNC, last_error="")
                return "nothing"
            api_key = _api_key(link.team)
            return _push_now(link, api_key, force=False)
    except Conflict as exc:  # no account: the link waits for one
        _record_failure(model, link_id, exc, final=False)
        return "paused"
    except InvalidInput as exc:  # a tool not on iwy yet
        _record_failure(model, link_id, exc, final=True)
        return "error"
    except IwyError as exc:
        _record_failure(model, link_id, exc, final=not exc.retryable)
        raise


def link_failed(*, model: LinkModel, link_id: Any, message: str) -> None:
    """A push failed for good (retries spent): the link says so until a change or a pull."""
    model.objects.filter(pk=link_id).exclude(state=SyncState.DRIFT).update(
        state=SyncState.ERROR, last_error=message
    )


def _pull_seen(link: Link, remote: dict[str, Any]) -> bool:
    """Record what the pull found. True when Parley has changes to push now. iwy's copy as it
    was at the last sync clears drift (changed back on iwy) and an earlier error."""
    link.pulled_at = timezone.now()
    if remote != link.remote_synced:
        link.state, link.remote_seen, link.last_error = SyncState.DRIFT, remote, ""
        link.save()
        return False
    link.remote_seen = None
    try:
        pending = bool(documents.changed_fields(_local(link), link.local_synced))
    except InvalidInput as exc:  # a tool not on iwy yet
        link.state, link.last_error = SyncState.ERROR, exc.message
        link.save()
        return False
    link.state = SyncState.PENDING if pending else SyncState.IN_SYNC
    if not pending:
        link.last_error = ""
    link.save()
    return pending


def link_pull(*, model: LinkModel, link_id: Any) -> str:
    """Read iwy's copy and compare it with the last sync: changed means drift, shown to a
    person and never overwritten. Changes Parley still has to push are queued. Returns the
    link's state, or "gone"."""
    link = model.objects.select_related("team").filter(pk=link_id).first()
    if link is None:
        return "gone"
    try:
        remote = _remote(link, _fetch(link, _api_key(link.team)))
    except Conflict:
        return "paused"
    except IwyError as exc:
        _record_failure(model, link_id, exc, final=not exc.retryable)
        raise
    with transaction.atomic():
        link = _locked(model, link_id)
        if link is None:
            return "gone"
        if _pull_seen(link, remote):
            push_later(link)
        return str(link.state)


# Publishing.


def _refuse_single_use(agent: Agent) -> None:
    if agent.kind != AgentKind.PERMANENT:
        raise InvalidInput.for_field(
            "agent", "only permanent agents are published; mint single-use ones on iwy instead"
        )


def _target_of(link: Link) -> Agent | Tool:
    if isinstance(link, AgentLink):
        return link.agent
    if isinstance(link, ToolLink):
        return link.tool
    raise TypeError(f"{type(link).__name__} links nothing Parley knows")


def _record_link(link: Link, actor: Actor, action: Action) -> None:
    """Publishing, overriding iwy's copy and unlinking, in the team's activity log."""
    target = _target_of(link)
    activity_record(
        team=link.team,
        actor=actor,
        action=action,
        target_type=TargetType.AGENT if isinstance(link, AgentLink) else TargetType.TOOL,
        target_id=target.pk,
        target_label=target.name,
        before={},
        after={"iwy_id": link.remote_id},
    )


def _link_new(link: Link, api_key: str, local: dict[str, Any]) -> Link:
    created = iwy_create(api_key=api_key, kind=_kind(link), body=local)
    link.remote_id = str(created["id"])
    _agreed(link, local, _remote(link, created))
    return link


@transaction.atomic
def tool_publish(*, tool: Tool, actor: Actor = SYSTEM) -> ToolLink:
    """Create the tool on iwy (POST /tool) and keep its iwy id."""
    api_key = _api_key(tool.team)
    tool = Tool.objects.select_for_update().get(pk=tool.pk)  # one publish at a time
    if ToolLink.objects.filter(tool=tool).exists():
        raise Conflict(f"The tool {tool.name} is already on iwy.")
    link = ToolLink(team=tool.team, tool=tool)
    _link_new(link, api_key, documents.tool_document(tool))
    _record_link(link, actor, Action.IWY_PUBLISHED)
    return link


def _tools_first(agent: Agent, with_tools: bool, actor: Actor) -> None:
    missing = documents.tools_not_on_iwy(agent.team_id, agent.configuration)
    if missing and not with_tools:
        names = ", ".join(tool.name for tool in missing)
        raise Conflict(
            f"{agent.name} uses tools that are not on iwy yet: {names}. Publish them first, "
            "or publish the agent with its tools.",
            details={"tools": [str(tool.id) for tool in missing]},
        )
    for tool in missing:
        tool_publish(tool=tool, actor=actor)


def agent_publish(*, agent: Agent, with_tools: bool = False, actor: Actor = SYSTEM) -> AgentLink:
    """Create the agent on iwy (POST /agent) and keep its iwy id. Its tools must be on iwy
    first: `with_tools` publishes those that are not (each kept linked even if the agent then
    fails, so nothing is made twice on iwy), else they are named in a Conflict."""
    _refuse_single_use(agent)
    _api_key(agent.team)
    _tools_first(agent, with_tools, actor)
    return _agent_publish(agent, actor)


@transaction.atomic
def _agent_publish(agent: Agent, actor: Actor) -> AgentLink:
    api_key = _api_key(agent.team)
    agent = Agent.objects.select_for_update().get(pk=agent.pk)  # one publish at a time
    if AgentLink.objects.filter(agent=agent).exists():
        raise Conflict(f"{agent.name} is already on iwy.")
    link = AgentLink(team=agent.team, agent=agent)
    _link_new(link, api_key, documents.agent_document(agent))
    _record_link(link, actor, Action.IWY_PUBLISHED)
    return link


# A person resolves drift.


@transaction.atomic
def link_keep_parley(*, link: Link, actor: Actor = SYSTEM) -> Link:
    """Push Parley's side over iwy's: every field where they differ."""
    api_key = _api_key(link.team)
    locked = _locked(link_model(link), link.pk)
    if locked is None:
        raise Conflict("This link was removed meanwhile.")
    _push_now(locked, api_key, force=True)
    _record_link(locked, actor, Action.IWY_KEPT)
    return locked


@transaction.atomic
def link_take_iwy(*, link: Link, actor: Actor) -> Link:
    """Apply iwy's side to Parley's agent or tool through the usual update service, validated
    as any change is; a change Parley cannot take raises InvalidInput and changes nothing."""
    api_key = _api_key(link.team)
    locked = _locked(link_model(link), link.pk)
    if locked is None:
        raise Conflict("This link was removed meanwhile.")
    remote = _remote(locked, _fetch(locked, api_key))
    if isinstance(locked, AgentLink):
        changes = documents.agent_changes_from_remote(locked.agent, remote)
        agent_update(agent=locked.agent, actor=actor, changes=changes, source=VersionSource.SYNC)
    else:
        changes = documents.tool_changes_from_remote(remote)
        tool_update(tool=locked.tool, actor=actor, changes=changes, source=VersionSource.SYNC)
    _agreed(locked, _local(locked), remote)
    return locked


def link_unlink(*, link: Link, actor: Actor = SYSTEM) -> None:
    """Forget the link. Nothing is deleted on iwy (its API documents no delete)."""
    _record_link(link, actor, Action.IWY_UNLINKED)
    link.delete()


def link_diff(*, link: Link) -> list[dict[str, Any]]:
    """The field-level difference between Parley's side now and iwy's last seen."""
    try:
        local = _local(link)
    except InvalidInput:
        local = link.local_synced
    remote = link.remote_seen if link.remote_seen is not None else link.remote_synced
    return documents.field_diff(local, remote, link.local_synced, link.remote_synced)


# Single-use agents on iwy.


def _mint_configuration(
    team: Team, agent: Agent | None, configuration: dict[str, Any] | None
) -> dict[str, Any]:
    if (agent is None) == (configuration is None):
        raise InvalidInput.for_field("agent_id", "send either agent_id or configuration")
    if agent is not None:
        _refuse_single_use(agent)
        return documents.configuration_for_iwy(team.pk, agent.configuration)
    document = agent_configuration_validate(team=team, document=configuration or {}).as_document()
    return documents.configuration_for_iwy(team.pk, document)


def _when(value: Any) -> Any:
    return parse_datetime(value) if isinstance(value, str) else None


def agent_mint(
    *,
    team: Team,
    actor: Actor,
    ttl_seconds: int,
    metadata: dict[str, Any],
    agent: Agent | None = None,
    configuration: dict[str, Any] | None = None,
) -> tuple[MintedAgent, dict[str, Any]]:
    """A single-use agent on iwy (POST /ephemeral-agent) from a Parley permanent agent or a
    configuration, recorded for the team. Returns the record and iwy's agent object."""
    api_key = _api_key(team)
    document = _mint_configuration(team, agent, configuration)
    remote = iwy_ephemeral_create(
        api_key=api_key, configuration=document, ttl_seconds=ttl_seconds, metadata=metadata
    )
    minted = MintedAgent.objects.create(
        team=team,
        source_agent=agent,
        source_name=agent.name if agent else "",
        remote_id=str(remote["id"]),
        ttl_seconds=ttl_seconds,
        metadata=metadata,
        expires_at=_when(remote.get("expires_at")),
        remote_created_at=_when(remote.get("created_at")),
        created_by=actor.person,
        api_key=actor.api_key,
    )
    return minted, remote
