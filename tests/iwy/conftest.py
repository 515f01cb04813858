from collections.abc import Iterator
from typing import Any

import pytest

from activity.services import Actor
from agents.configuration import AgentConfiguration
from agents.models import Agent
from iwy.models import IwyAccount
from tests.conftest import Cast
from tests.factories import AgentFactory, ToolFactory
from tools.models import Tool

from .iwy_standin import IwyStandIn


@pytest.fixture
def standin(settings: Any) -> Iterator[IwyStandIn]:
    server = IwyStandIn().start()
    settings.IWY_API_URL = server.url
    yield server
    server.stop()


@pytest.fixture
def account(cast: Cast, standin: IwyStandIn) -> IwyAccount:
    return IwyAccount.objects.create(team=cast.team, credentials={"api_key": standin.key})


@pytest.fixture
def owner(cast: Cast) -> Actor:
    return Actor(user=cast.owner)


def a_tool(cast: Cast, name: str = "get_weather", **fields: Any) -> Tool:
    fields.setdefault("headers", {"x-api-key": "hook-secret"})
    return ToolFactory(team=cast.team, name=name, **fields)


def an_agent(cast: Cast, name: str = "Ada", **config: Any) -> Agent:
    document = AgentConfiguration.model_validate(config).as_document()
    return AgentFactory(team=cast.team, name=name, configuration=document)
