"""demo.services: the demo workspace, made once and then left to the person using it."""

from typing import Any

import pytest
from django.db.models import Sum
from django.test import Client

from activity.models import ActivityEntry
from activity.services import Actor
from agents.configuration import AgentConfiguration
from agents.models import Agent, PublishStatus
from agents.services import agent_delete, agent_update
from analytics.models import AgentDailyStats, AgentHourlyStats
from demo import content
from demo.models import DemoItem, DemoPart
from demo.order_status import ORDER_STATUS_URL
from demo.services import demo_workspace_create
from providers.selectors import provider_resolve
from sessions.models import Channel, EventKind, Session, SessionStatus, SessionType, Transport
from teams.models import Membership, Role, Team, User
from teams.services import team_create
from tests.conftest import signed_in
from tests.factories import ToolFactory
from tools.models import ExecutionOutcome, Tool, ToolExecution
from voice.speech import speech_check

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    models: list[Any] = [User, Team, Agent, Tool, Session, ToolExecution, ActivityEntry]
    return {model.__name__: model.objects.count() for model in [*models, AgentDailyStats]}


def test_a_first_run_makes_the_whole_workspace() -> None:
    workspace = demo_workspace_create()
    assert workspace.user.check_password(content.PASSWORD)
    assert Membership.objects.get(user=workspace.user).role == Role.OWNER
    assert workspace.team.name == content.TEAM
    assert workspace.made == [DemoPart.TOOL, DemoPart.AGENT, DemoPart.CHAT, DemoPart.CALL]


def test_the_agent_is_published_and_offline_from_end_to_end() -> None:
    team = demo_workspace_create().team
    agent = Agent.objects.get(team=team)
    tool = Tool.objects.get(team=team)
    config = AgentConfiguration.model_validate(agent.configuration)
    assert agent.name == content.AGENT
    assert agent.publish_status == PublishStatus.PUBLIC
    assert (config.llm.provider, config.llm.model) == ("local", "local")
    assert (config.stt.provider, config.tts.provider) == ("whisper", "piper")
    assert config.video.provider == "image"  # the built-in avatar
    assert config.llm.first_message == content.FIRST_MESSAGE
    assert "Saturday 10:00 to 16:00" in config.llm.system_prompt
    assert config.tool_calling.selected_tool_ids == [tool.id]
    assert (tool.name, tool.server_url) == ("order_status", ORDER_STATUS_URL)
    # What a chat and a call check before they start: nothing to configure, no key to add.
    assert provider_resolve(team=team, kind="local").base_url
    speech_check(team=team, config=config)


def test_running_it_again_makes_nothing() -> None:
    first = demo_workspace_create()
    before = counts()
    again = demo_workspace_create()
    assert again.made == []
    assert (again.user, again.team) == (first.user, first.team)
    assert counts() == before
    assert DemoItem.objects.count() == 4


def test_a_person_s_edits_are_kept() -> None:
    workspace = demo_workspace_create()
    agent = Agent.objects.get(team=workspace.team)
    changes = {"name": "Our shop", "configuration": {"llm": {"system_prompt": "Be terse."}}}
    agent_update(agent=agent, actor=Actor(user=workspace.user), changes=changes)
    demo_workspace_create()
    agent.refresh_from_db()
    assert agent.name == "Our shop"
    assert agent.configuration["llm"]["system_prompt"] == "Be terse."
    assert Agent.objects.count() == 1


def test_what_a_person_deleted_stays_deleted() -> None:
    workspace = demo_workspace_create()
    agent_delete(agent=Agent.objects.get(), actor=Actor(user=workspace.user))
    Session.objects.filter(type=SessionType.CHAT).delete()
    demo_workspace_create()
    assert not Agent.objects.exists()
    assert not Session.objects.filter(type=SessionType.CHAT).exists()
    assert Session.objects.filter(type=SessionType.VIDEO).count() == 1


def test_an_empty_demo_team_of_an_earlier_run_is_filled() -> None:
    # What `manage.py demo` made before it made a workspace: the login and an empty team.
    user = User.objects.create_user(content.EMAIL, content.PASSWORD)
    team = team_create(name=content.TEAM, owner=user)
    workspace = demo_workspace_create()
    assert workspace.team == team
    assert Team.objects.count() == 1
    assert Agent.objects.get().team == team


def test_a_tool_of_the_same_name_is_the_team_s_own_and_stays() -> None:
    user = User.objects.create_user(content.EMAIL, content.PASSWORD)
    theirs = ToolFactory(team=team_create(name=content.TEAM, owner=user), name="order_status")
    workspace = demo_workspace_create()
    assert Tool.objects.get() == theirs
    assert Agent.objects.get().configuration["tool_calling"]["selected_tool_ids"] == []
    assert workspace.made == [DemoPart.AGENT]  # samples of a tool the team lacks would mislead


def test_the_sample_chat_shows_a_real_tool_call() -> None:
    demo_workspace_create()
    chat = Session.objects.get(type=SessionType.CHAT)
    kinds = list(chat.events.values_list("kind", flat=True))
    assert kinds.count(EventKind.TOOL_CALL) == 1
    assert (chat.status, chat.end_reason) == (SessionStatus.STOPPED, "idle_timeout")
    call = chat.events.get(kind=EventKind.TOOL_CALL)
    execution = ToolExecution.objects.get(pk=call.data["execution_id"])
    assert execution.outcome == ExecutionOutcome.SUCCESS
    assert execution.session == chat
    assert execution.started_at >= chat.started_at
    replies = chat.events.filter(kind=EventKind.MESSAGE, data__role="assistant")
    assert all("ttft_ms" in r.data for r in replies[1:])  # all but the greeting
    assert chat.metadata == {"sample": "made by manage.py demo"}
    assert chat.channel == Channel.WIDGET  # a shop's customer, on the shop's site


def test_the_sample_call_has_voice_latencies_and_lasts_as_long_as_it_reads() -> None:
    demo_workspace_create()
    call = Session.objects.get(type=SessionType.VIDEO)
    assert (call.status, call.end_reason) == (SessionStatus.STOPPED, "ended by the client")
    assert call.transport == Transport.WEBRTC
    assert call.channel == Channel.HOSTED  # the avatar's call, on the agent's hosted page
    assert round((call.ended_at - call.started_at).total_seconds(), 1) == 31.5
    times = list(call.events.order_by("seq").values_list("created_at", flat=True))
    assert times == sorted(times)
    assert times[-1] == call.ended_at
    spoken = call.events.filter(kind=EventKind.MESSAGE, data__has_key="latency_ms")
    assert spoken.count() == 3
    for event in spoken:
        parts = event.data["turn_detection_ms"] + event.data["llm_ms"] + event.data["tts_ms"]
        assert event.data["latency_ms"] == parts


def test_the_analytics_count_the_samples() -> None:
    demo_workspace_create()
    # One row, or two when the samples fall either side of midnight.
    days = AgentDailyStats.objects.all()
    figures = ("sessions", "ended_sessions", "turns", "tool_calls", "tool_failures")
    assert [sum(getattr(day, name) for day in days) for name in figures] == [2, 2, 6, 1, 0]
    assert sum(day.duration_seconds for day in days) in (384, 385)  # 353.3 s + 31.5 s
    assert all(day.llm_ttft_p50_ms is not None for day in days)
    # The analytics page shows each under its channel, none under "Unknown".
    by_channel = AgentHourlyStats.objects.values_list("channel", "type").distinct()
    assert sorted(by_channel) == [
        (Channel.HOSTED, SessionType.VIDEO),
        (Channel.WIDGET, SessionType.CHAT),
    ]


def test_samples_of_an_earlier_run_keep_their_channel() -> None:
    demo_workspace_create()
    # What a run from before the samples had a channel left: both of them "Unknown".
    Session.objects.update(channel=Channel.UNKNOWN)
    before = counts()
    assert demo_workspace_create().made == []
    assert counts() == before
    assert set(Session.objects.values_list("channel", flat=True)) == {Channel.UNKNOWN}


def test_the_demo_login_sees_the_samples_on_the_sessions_pages() -> None:
    workspace = demo_workspace_create()
    client: Client = signed_in(workspace.user)
    listed = client.get("/sessions/")
    assert listed.status_code == 200
    assert listed.content.decode().count(content.AGENT) >= 2
    chat = Session.objects.get(type=SessionType.CHAT)
    page = client.get(f"/sessions/{chat.pk}/").content.decode()
    assert "Where is my order A-1042?" in page
    assert "order_status" in page
    assert "ParcelPost" in page


def test_the_analytics_page_has_the_samples_at_once() -> None:
    workspace = demo_workspace_create()
    client: Client = signed_in(workspace.user)
    page = client.get("/analytics/")
    assert page.status_code == 200
    assert (
        AgentHourlyStats.objects.filter(team=workspace.team).aggregate(n=Sum("sessions"))["n"] == 2
    )
