"""Every save of a tool is one version: its definition as it was, secrets masked."""

import pytest

from activity.services import SYSTEM, Actor
from tests.conftest import Cast
from tools.services import tool_create, tool_update
from tools.spec import ToolSpec

pytestmark = pytest.mark.django_db


def test_each_save_of_a_tool_is_one_version_with_secrets_masked(cast: Cast) -> None:
    spec = ToolSpec.model_validate(
        {
            "name": "orders",
            "description": "Finds an order.",
            "server_url": "https://hooks.example.com/orders",
            "headers": {"X-Secret": "s3cret-value"},
        }
    )
    tool = tool_create(team=cast.team, actor=Actor(api_key=cast.key), spec=spec)
    tool_update(tool=tool, actor=Actor(user=cast.owner), changes={"description": "Finds it."})
    tool_update(tool=tool, actor=SYSTEM, changes={"timeout_seconds": 5}, source="sync")
    versions = list(tool.versions.order_by("number"))
    assert [(v.number, v.source) for v in versions] == [(1, "api"), (2, "dashboard"), (3, "sync")]
    assert versions[0].definition["description"] == "Finds an order."
    assert versions[1].definition["description"] == "Finds it."
    assert "s3cret-value" not in str(versions[0].definition)
