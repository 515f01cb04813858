"""Changes made through the API land in the team's activity log, with the fields that changed."""

import pytest
from django.test import Client

from activity.models import ActivityEntry
from tests.conftest import Cast, signed_in
from tests.http import patch, post

pytestmark = pytest.mark.django_db

TOOL = {
    "name": "get_weather",
    "description": "Weather.",
    "server_url": "https://hooks.example.com/w",
    "headers": {"X-Key": "first-secret"},
}


def test_an_agent_created_updated_published_and_deleted_is_logged(api: Client, cast: Cast) -> None:
    agent_id = post(api, "/v1/agents", {"name": "Support"}).json()["id"]
    patch(api, f"/v1/agent/{agent_id}", {"configuration": {"llm": {"temperature": 0.2}}})
    patch(api, f"/v1/agent/{agent_id}", {"publish_status": "public"})
    api.delete(f"/v1/agent/{agent_id}")
    entries = list(ActivityEntry.objects.filter(team=cast.team).order_by("id"))
    assert [e.action for e in entries] == ["created", "updated", "published", "deleted"]
    assert entries[1].changes == {"configuration.llm.temperature": [0.7, 0.2]}
    assert entries[2].changes == {"publish_status": ["draft", "public"]}
    assert all(e.api_key == cast.key and e.target_label == "Support" for e in entries)


def test_a_signed_in_change_names_the_person(cast: Cast) -> None:
    post(signed_in(cast.member), "/v1/agents", {"name": "Mine"})
    assert ActivityEntry.objects.get().actor == cast.member


def test_tool_secrets_never_reach_the_log_but_their_change_does(api: Client, cast: Cast) -> None:
    tool_id = post(api, "/v1/tools", TOOL).json()["id"]
    patch(api, f"/v1/tool/{tool_id}", {"headers": {"X-Key": "second-secret"}})
    logged = str(list(ActivityEntry.objects.values_list("changes", flat=True)))
    assert "first-secret" not in logged
    assert "second-secret" not in logged
    update = ActivityEntry.objects.get(action="updated")
    assert update.changes == {"headers.X-Key": ["[REDACTED]", "[REDACTED] (changed)"]}


def test_another_teams_changes_stay_in_its_log(outsider_api: Client, cast: Cast) -> None:
    post(outsider_api, "/v1/agents", {"name": "Theirs"})
    assert not ActivityEntry.objects.filter(team=cast.team).exists()
