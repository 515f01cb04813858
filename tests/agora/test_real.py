"""Against Agora itself, when credentials are at hand (AGORA_APP_ID, AGORA_CUSTOMER_ID,
AGORA_CUSTOMER_SECRET; AGORA_API_URL optional): the credentials are accepted and the agents
of a channel are listed. Starting a real agent needs a public Parley for its LLM: not here."""

import os
import uuid
from typing import Any

import pytest

from agora.client import agora_list, agora_query
from agora.models import AgoraAccount
from tests.conftest import Cast

NEEDED = ("AGORA_APP_ID", "AGORA_CUSTOMER_ID", "AGORA_CUSTOMER_SECRET")

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not all(os.environ.get(name) for name in NEEDED),
        reason="needs real Agora credentials (AGORA_APP_ID, AGORA_CUSTOMER_ID, "
        "AGORA_CUSTOMER_SECRET)",
    ),
]


def test_the_client_against_agoras_own_api(cast: Cast, settings: Any) -> None:
    if os.environ.get("AGORA_API_URL"):
        settings.AGORA_API_URL = os.environ["AGORA_API_URL"]
    credentials = {
        "app_id": os.environ["AGORA_APP_ID"],
        "customer_id": os.environ["AGORA_CUSTOMER_ID"],
        "customer_secret": os.environ["AGORA_CUSTOMER_SECRET"],
        "app_certificate": os.environ.get("AGORA_APP_CERTIFICATE", ""),
    }
    account = AgoraAccount.objects.create(team=cast.team, credentials=credentials)
    channel = f"parley-test-{uuid.uuid4().hex[:12]}"
    assert agora_list(account=account, channel=channel, states=["RUNNING"]) == []
    assert agora_query(account=account, agent_id=uuid.uuid4().hex.upper()) is None
