"""The demo workspace that `manage.py demo` (run by `make run`) makes: a login, its team, and in
the team an agent that works offline, its tool, and two sample conversations with analytics.

Each part is made once per team and remembered (DemoItem): a run makes only the parts it never
made, so a part a person has since edited or deleted stays as they left it (docs/demo.md).
Everything is written through the services a person's own changes and real sessions go
through; the samples are then moved back in time so that they read as conversations that
took a minute, not a millisecond."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from asgiref.sync import async_to_sync
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from activity.services import Actor
from agents.models import Agent, PublishStatus
from agents.services import agent_create
from analytics.services import agent_daily_stats_compute, analytics_rollup_compute
from parley.errors import Conflict
from sessions.models import (
    Channel,
    EventKind,
    Session,
    SessionEvent,
    SessionStatus,
    SessionType,
    Transport,
)
from sessions.services import session_create, session_end, session_event_append, session_status_set
from teams.models import Membership, Role, Team, User
from teams.services import team_create
from tools.execution import tool_execute
from tools.models import Tool, ToolExecution
from tools.services import tool_create

from . import content
from .models import DemoItem, DemoPart

SAMPLE = {"sample": "made by manage.py demo"}  # the samples' metadata, so nobody takes them as real
# How long ago each sample started, when it is made.
CHAT_AGO, CALL_AGO = timedelta(minutes=50), timedelta(minutes=20)


@dataclass
class DemoWorkspace:
    user: User
    team: Team
    made: list[DemoPart] = field(default_factory=list)  # the parts this run made


def _user() -> User:
    user = User.objects.filter(email=content.EMAIL).first()
    if user is None:
        user = User.objects.create_user(
            content.EMAIL, content.PASSWORD, is_staff=True, is_superuser=True
        )
    return user


def _team(user: User) -> Team:
    """The first team the demo login owns, else a new "Demo team"."""
    owned = Membership.objects.filter(user=user, role=Role.OWNER).order_by("created_at", "pk")
    membership = owned.select_related("team").first()
    return membership.team if membership else team_create(name=content.TEAM, owner=user)


def _once(workspace: DemoWorkspace, part: DemoPart, make: Callable[[], UUID | None]) -> UUID | None:
    """Make `part` unless this team had it made before, and remember it; the id of what was
    made now. `make` returns None when it cannot make the part (a later run tries again)."""
    if DemoItem.objects.filter(team=workspace.team, part=part).exists():
        return None
    made = make()
    if made is not None:
        DemoItem.objects.create(team=workspace.team, part=part, object_id=made)
        workspace.made.append(part)
    return made


def _made(team: Team, part: DemoPart) -> QuerySet[DemoItem, UUID]:
    """The id of what a run made as `part` in the team, as a subquery; it may be gone since."""
    return DemoItem.objects.filter(team=team, part=part).values_list("object_id", flat=True)


def _tool(team: Team, actor: Actor) -> UUID | None:
    try:
        return tool_create(team=team, actor=actor, spec=content.TOOL).id
    except Conflict:  # the team has a tool of that name already: theirs, which stays
        return None


def _agent(team: Team, actor: Actor) -> UUID:
    tools = Tool.objects.filter(team=team, id__in=_made(team, DemoPart.TOOL))
    agent = agent_create(
        team=team,
        actor=actor,
        name=content.AGENT,
        configuration=content.agent_configuration(tool_ids=[tool.id for tool in tools]),
        publish_status=PublishStatus.PUBLIC,
    )
    return agent.id


# The samples.


def _step(session: Session, what: str, data: Any, tool: Tool) -> ToolExecution | None:
    """One step of a sample, recorded as the engine, a call or the session's end records it."""
    if what == "said":
        session_event_append(session=session, kind=EventKind.MESSAGE, data=data)
    elif what == "running":
        session_status_set(session=session, status=SessionStatus.RUNNING)
    elif what == "tool":  # called for real: the demo tool answers in this process
        return async_to_sync(tool_execute)(tool=tool, arguments=data, session=session).execution
    elif what == "ended":
        session_end(session=session, reason=data)
    return None


def _backdated(
    session: Session,
    times: dict[int, float],
    calls: list[tuple[ToolExecution, float]],
    start: datetime,
) -> None:
    """Move the session to have started at `start`, its events (by number) and tool calls
    that many seconds after it."""
    for seq, seconds in times.items():
        at = start + timedelta(seconds=seconds)
        SessionEvent.objects.filter(session=session, seq=seq).update(created_at=at)
    for execution, seconds in calls:
        finished = start + timedelta(seconds=seconds)
        took = timedelta(milliseconds=execution.duration_ms or 0)
        ToolExecution.objects.filter(pk=execution.pk).update(
            started_at=finished - took, finished_at=finished
        )
    end = start + timedelta(seconds=max(times.values()))
    Session.objects.filter(pk=session.pk).update(
        started_at=start, ended_at=end, last_activity_at=end
    )


def _sample(
    agent: Agent,
    tool: Tool,
    kind: SessionType,
    channel: Channel,
    script: list[content.Step],
    ago: timedelta,
) -> UUID:
    """A session of `agent` from `channel`, played from `script`, moved to have started `ago`."""
    session = session_create(agent=agent, type=kind, metadata=SAMPLE, channel=channel)
    if kind != SessionType.CHAT:  # a call's media goes straight to Parley's voice worker
        Session.objects.filter(pk=session.pk).update(transport=Transport.WEBRTC)
        session.transport = Transport.WEBRTC
    times, calls = {1: 0.0}, []  # event 1: the start, which session_create recorded
    for seconds, what, data in script:
        if (execution := _step(session, what, data, tool)) is not None:
            calls.append((execution, seconds))
        session.refresh_from_db(fields=["last_event_seq"])
        times[session.last_event_seq] = seconds
    _backdated(session, times, calls, timezone.now() - ago)
    return session.id


def _samples(workspace: DemoWorkspace) -> list[UUID]:
    """The sample chat (the tool called) and call; the ids of those made now. Not made without
    the demo agent and its tool: they would show what the team no longer has."""
    team = workspace.team
    agent = Agent.objects.filter(team=team, id__in=_made(team, DemoPart.AGENT)).first()
    tool = Tool.objects.filter(team=team, id__in=_made(team, DemoPart.TOOL)).first()
    if agent is None or tool is None:
        return []
    # A shop's customer chats in the widget on its site; the avatar's call is on the hosted page.
    chat = partial(_sample, agent, tool, SessionType.CHAT, Channel.WIDGET, content.CHAT, CHAT_AGO)
    call = partial(_sample, agent, tool, SessionType.VIDEO, Channel.HOSTED, content.CALL, CALL_AGO)
    made = [_once(workspace, DemoPart.CHAT, chat), _once(workspace, DemoPart.CALL, call)]
    return [session_id for session_id in made if session_id is not None]


@transaction.atomic
def demo_workspace_create() -> DemoWorkspace:
    """Make what the demo workspace is missing: the demo login and its team, then in the team
    the order-status tool, the agent, and the sample chat and call, each only if this team
    never had it made; and the analytics of the days the new samples fall on, as the hourly
    rollup would compute them."""
    user = _user()
    workspace = DemoWorkspace(user=user, team=_team(user))
    team, actor = workspace.team, Actor(user=user)
    Team.objects.select_for_update().filter(pk=team.pk).first()  # one run at a time per team
    _once(workspace, DemoPart.TOOL, lambda: _tool(team, actor))
    _once(workspace, DemoPart.AGENT, lambda: _agent(team, actor))
    started = Session.objects.filter(id__in=_samples(workspace)).values_list(
        "started_at", flat=True
    )
    for day in sorted({timezone.localdate(at) for at in started}):
        agent_daily_stats_compute(day=day)
    for hour in sorted({at.replace(minute=0, second=0, microsecond=0) for at in started}):
        analytics_rollup_compute(hour=hour)  # the analytics page's rows
    return workspace
