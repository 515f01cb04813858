import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from activity.models import Action, ActivityEntry, TargetType
from activity.services import SYSTEM
from agents.services import agent_update
from analysis.models import SessionAnalysis
from analytics.models import AgentDailyStats
from evals.models import EvalRun, EvalScenario
from evals.services import eval_run_start, scenario_create, scenario_spec
from parley.admin import RecordAdmin
from providers.models import Provider
from sessions.models import CallbackDelivery, EventKind, SessionType
from sessions.services import session_create, session_event_append
from teams.models import Invitation
from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory, ToolFactory, UserFactory
from tools.models import ExecutionOutcome, ExecutionSource, ToolExecution

pytestmark = pytest.mark.django_db

TOOL_SECRETS = ("hdr-plaintext-9876", "tok-plaintext-5432")


@pytest.fixture
def admin_client(cast: Cast) -> Client:
    return signed_in(UserFactory(email="root@example.com", is_staff=True, is_superuser=True))


def _session_event(cast: Cast) -> Any:
    session = session_create(agent=AgentFactory(team=cast.team), type=SessionType.CHAT)
    return session_event_append(session=session, kind=EventKind.MESSAGE, data={"text": "hi"})


def _callback_delivery(cast: Cast) -> CallbackDelivery:
    session = session_create(agent=AgentFactory(team=cast.team), type=SessionType.CHAT)
    return CallbackDelivery.objects.create(
        session=session, team=cast.team, url="https://hooks.example.com/ended", attempt=1
    )


def _session_analysis(cast: Cast) -> SessionAnalysis:
    session = session_create(agent=AgentFactory(team=cast.team), type=SessionType.CHAT)
    return SessionAnalysis.objects.create(
        session=session, team=cast.team, requested_at=timezone.now(), summary="Asked for a refund."
    )


def _eval_scenario(cast: Cast) -> EvalScenario:
    agent = AgentFactory(team=cast.team, name="Support bot")
    agent_update(agent=agent, actor=SYSTEM, changes={})  # its version 1
    spec = scenario_spec({"script": ["Where is my order?"]})
    return scenario_create(agent=agent, actor=SYSTEM, name="order status", spec=spec)


def _eval_run(cast: Cast) -> EvalRun:
    scenario = _eval_scenario(cast)
    return eval_run_start(agent=scenario.agent, actor=SYSTEM, dispatch=False)


# Each admin: a row to find, and the text it shows in the changelist.
ROWS: dict[str, Callable[[Cast], Any]] = {
    "teams_user": lambda cast: cast.member,
    "teams_team": lambda cast: cast.team,
    "teams_membership": lambda cast: cast.member.memberships.get(),
    "teams_apikey": lambda cast: cast.key,
    "teams_invitation": lambda cast: Invitation.objects.create(
        team=cast.team,
        email="new@example.com",
        digest="d" * 64,
        expires_at=timezone.now() + timedelta(days=7),
    ),
    "agents_agent": lambda cast: AgentFactory(team=cast.team, name="Support bot"),
    "tools_tool": lambda cast: ToolFactory(team=cast.team, name="get_weather"),
    "conversations_session": lambda cast: session_create(
        agent=AgentFactory(team=cast.team, name="Support bot"), type=SessionType.VOICE
    ),
    "conversations_sessionevent": _session_event,
    "tools_toolexecution": lambda cast: ToolExecution.objects.create(
        team=cast.team,
        tool_name="get_weather",
        source=ExecutionSource.TEST,
        outcome=ExecutionOutcome.SUCCESS,
    ),
    "providers_provider": lambda cast: Provider.objects.create(
        team=cast.team, kind="groq", credentials={"api_key": "gsk_admin-listed-0000"}
    ),
    "conversations_callbackdelivery": _callback_delivery,
    "activity_activityentry": lambda cast: ActivityEntry.objects.create(
        team=cast.team,
        actor=cast.owner,
        action=Action.CREATED,
        target_type=TargetType.AGENT,
        target_id="1",
        target_label="Support bot",
    ),
    "analysis_sessionanalysis": _session_analysis,
    "analytics_agentdailystats": lambda cast: AgentDailyStats.objects.create(
        agent=AgentFactory(team=cast.team, name="Support bot"),
        team=cast.team,
        day=date(2026, 3, 10),
        sessions=4,
    ),
    "evals_evalscenario": _eval_scenario,
    "evals_evalrun": _eval_run,
    "evals_evalresult": lambda cast: _eval_run(cast).results.get(),
}
# What to type in the search box to find that row.
SEARCH: dict[str, Callable[[Any], str]] = {
    "teams_user": lambda user: user.email,
    "teams_team": lambda team: team.name,
    "teams_membership": lambda membership: membership.user.email,
    "teams_apikey": lambda key: key.prefix,
    "teams_invitation": lambda invitation: invitation.email,
    "agents_agent": lambda agent: agent.name,
    "tools_tool": lambda tool: tool.name,
    "conversations_session": lambda session: session.agent_name,
    "conversations_sessionevent": lambda event: str(event.session_id),
    "tools_toolexecution": lambda execution: execution.tool_name,
    "providers_provider": lambda provider: provider.kind,
    "conversations_callbackdelivery": lambda delivery: str(delivery.session_id),
    "activity_activityentry": lambda entry: entry.target_label,
    "analytics_agentdailystats": lambda stats: stats.agent.name,
    "analysis_sessionanalysis": lambda analysis: str(analysis.session_id),
    "evals_evalscenario": lambda scenario: scenario.name,
    "evals_evalrun": lambda run: run.agent.name,
    "evals_evalresult": lambda result: result.scenario_name,
}


def _change_url(admin: str, row: Any) -> str:
    return reverse(f"admin:{admin}_change", args=[row.pk])


@pytest.mark.parametrize("admin", ROWS)
def test_changelist_loads_with_rows(admin_client: Client, cast: Cast, admin: str) -> None:
    row = ROWS[admin](cast)
    r = admin_client.get(reverse(f"admin:{admin}_changelist"))
    assert r.status_code == 200
    assert row in r.context["cl"].result_list
    assert _change_url(admin, row) in r.content.decode()


@pytest.mark.parametrize("admin", ROWS)
def test_search_finds_the_row(admin_client: Client, cast: Cast, admin: str) -> None:
    row = ROWS[admin](cast)
    r = admin_client.get(reverse(f"admin:{admin}_changelist"), {"q": SEARCH[admin](row)})
    assert r.status_code == 200
    assert row in r.context["cl"].result_list


@pytest.mark.parametrize("admin", ROWS)
def test_search_leaves_out_what_does_not_match(
    admin_client: Client, cast: Cast, admin: str
) -> None:
    row = ROWS[admin](cast)
    url = reverse(f"admin:{admin}_changelist")
    assert admin_client.get(url, {"q": "x"}).status_code == 200
    r = admin_client.get(url, {"q": "qqqq-nothing-matches"})
    assert r.status_code == 200
    assert row not in r.context["cl"].result_list


@pytest.mark.parametrize("admin", ROWS)
def test_change_page_loads(admin_client: Client, cast: Cast, admin: str) -> None:
    row = ROWS[admin](cast)
    assert admin_client.get(_change_url(admin, row)).status_code == 200


def test_tool_change_page_shows_no_secret(admin_client: Client, cast: Cast) -> None:
    tool = ToolFactory(
        team=cast.team,
        headers={"X-Api-Token": TOOL_SECRETS[0]},
        auth_config={"type": "bearer", "token": TOOL_SECRETS[1]},
    )
    for url in (_change_url("tools_tool", tool), reverse("admin:tools_tool_changelist")):
        page = admin_client.get(url).content.decode()
        assert tool.name in page
        for secret in TOOL_SECRETS:
            assert secret not in page


def test_saving_a_tool_in_the_admin_keeps_its_secrets(admin_client: Client, cast: Cast) -> None:
    tool = ToolFactory(
        team=cast.team,
        headers={"X-Api-Token": TOOL_SECRETS[0]},
        auth_config={"type": "bearer", "token": TOOL_SECRETS[1]},
    )
    form = {
        "team": cast.team.pk,
        "name": tool.name,
        "description": "Edited in the admin.",
        "server_url": tool.server_url,
        "method": "GET",
        "parameters_schema": '{"type": "object", "properties": {}}',
        "timeout_seconds": 20,
        "tags": "[]",
        "created_at_0": "2025-01-01",
        "created_at_1": "00:00:00",
        "updated_at_0": "2025-01-01",
        "updated_at_1": "00:00:00",
    }
    r = admin_client.post(_change_url("tools_tool", tool), form)
    assert r.status_code == 302
    tool.refresh_from_db()
    assert tool.method == "GET"
    assert tool.headers == {"X-Api-Token": TOOL_SECRETS[0]}
    assert tool.auth_config == {"type": "bearer", "token": TOOL_SECRETS[1]}


def test_the_admin_is_closed_to_team_members(cast: Cast) -> None:
    r = signed_in(cast.owner).get(reverse("admin:tools_tool_changelist"))
    assert r.status_code == 302
    assert reverse("admin:login") in r["Location"]


# Records Parley writes as things happen: read in the admin, never added or edited there.
RECORDS = {
    "conversations_sessionevent",
    "conversations_callbackdelivery",
    "tools_toolexecution",
    "activity_activityentry",
    "analytics_agentdailystats",
    "analysis_sessionanalysis",
    "evals_evalrun",
    "evals_evalresult",
}


def _project_models() -> list[Any]:
    return [m for m in apps.get_models() if not m.__module__.startswith(("django.", "axes."))]


def test_every_project_admin_is_tested_and_records_are_declared_read_only() -> None:
    registered = {
        f"{m._meta.app_label}_{m._meta.model_name}": model_admin
        for m, model_admin in admin.site._registry.items()
        if m in _project_models()
    }
    assert set(registered) == set(ROWS)
    read_only = {
        name for name, model_admin in registered.items() if isinstance(model_admin, RecordAdmin)
    }
    assert read_only == RECORDS


@pytest.mark.parametrize("admin_name", sorted(RECORDS))
def test_records_offer_no_add_and_cannot_be_changed(
    admin_client: Client, cast: Cast, admin_name: str
) -> None:
    row = ROWS[admin_name](cast)
    add_url = reverse(f"admin:{admin_name}_add")
    assert admin_client.get(add_url).status_code == 403
    assert admin_client.post(add_url, {}).status_code == 403
    changelist = admin_client.get(reverse(f"admin:{admin_name}_changelist")).content.decode()
    assert add_url not in changelist
    page = admin_client.get(_change_url(admin_name, row)).content.decode()
    assert 'name="_save"' not in page  # shown to read, with no Save button


def test_the_admin_index_offers_add_only_where_a_row_may_be_made(admin_client: Client) -> None:
    page = admin_client.get(reverse("admin:index")).content.decode()
    for name in RECORDS:
        assert reverse(f"admin:{name}_add") not in page
    assert reverse("admin:agents_agent_add") in page


# Words that are acronyms or names, as they should read wherever the admin shows them.
PROPER_WORDS = {"api": "API", "llm": "LLM", "url": "URL", "agora": "Agora"}


@pytest.mark.parametrize("model", _project_models(), ids=lambda m: m._meta.label)
def test_model_names_read_as_english(model: Any) -> None:
    for name in (str(model._meta.verbose_name), str(model._meta.verbose_name_plural)):
        for word in name.split():
            assert word.lower() not in PROPER_WORDS or word == PROPER_WORDS[word.lower()], name
    plural = str(model._meta.verbose_name_plural)
    # "deliverys", "entrys": a consonant and y take "ies".
    assert not re.search(r"[^aeiou]ys$", plural), plural


def test_the_admin_index_names_models_properly(admin_client: Client) -> None:
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "Callback deliveries" in page
    assert "API keys" in page
    assert "Activity entries" in page
    assert "deliverys" not in page
    assert "Api keys" not in page
