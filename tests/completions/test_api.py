"""An agent's LLM keys through the API: minted with the team's key and shown once, listed
masked, revoked; another team's agent is not found."""

import pytest
from django.test import Client

from activity.models import ActivityEntry, TargetType
from completions.models import AgentLLMKey
from completions.services import llm_key_agent
from parley.errors import Unauthorized
from tests.conftest import Cast
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


def test_a_key_is_shown_once_listed_masked_and_revoked(api: Client, cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    made = api.post(
        f"/v1/agents/{agent.id}/llm-keys", {"name": "Agora"}, content_type="application/json"
    )
    assert made.status_code == 201, made.content
    secret = made.json()["key"]
    assert secret.startswith("ak_")
    assert made.json()["completions_url"].endswith(f"/v1/agents/{agent.id}/chat/completions")
    assert llm_key_agent(secret=secret, agent_id=agent.id) == agent
    stored = AgentLLMKey.objects.get()
    assert secret not in (stored.digest, stored.prefix)
    listed = api.get(f"/v1/agents/{agent.id}/llm-keys").json()["items"]
    assert listed[0]["prefix"] == secret[:11]
    assert "key" not in listed[0]
    revoked = api.delete(f"/v1/agents/{agent.id}/llm-keys/{stored.id}")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    with pytest.raises(Unauthorized):
        llm_key_agent(secret=secret, agent_id=agent.id)
    recorded = ActivityEntry.objects.filter(target_type=TargetType.LLM_KEY, api_key=cast.key)
    assert sorted(recorded.values_list("action", flat=True)) == ["created", "revoked"]


def test_a_name_too_long_is_a_422(api: Client, cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    made = api.post(
        f"/v1/agents/{agent.id}/llm-keys", {"name": "x" * 101}, content_type="application/json"
    )
    assert made.status_code in (400, 422)
    assert "name" in made.content.decode()
    assert not AgentLLMKey.objects.exists()


def test_another_teams_agent_has_no_keys_to_mint(outsider_api: Client, cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    made = outsider_api.post(f"/v1/agents/{agent.id}/llm-keys", {}, content_type="application/json")
    assert made.status_code == 404
    assert outsider_api.get(f"/v1/agents/{agent.id}/llm-keys").status_code == 404
    assert not AgentLLMKey.objects.exists()


def test_a_read_only_key_cannot_mint(read_only_api: Client, cast: Cast) -> None:
    agent = AgentFactory(team=cast.team)
    made = read_only_api.post(
        f"/v1/agents/{agent.id}/llm-keys", {}, content_type="application/json"
    )
    assert made.status_code == 403
