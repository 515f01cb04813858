"""The receiver example in docs/tools.md, run as written and called by Parley."""

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from tests.factories import ToolFactory
from tools.execution import tool_execute
from tools.models import ExecutionOutcome

pytestmark = pytest.mark.django_db

SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
EXAMPLE = re.compile(r"<!-- receiver-example -->\s*```python\n(.*?)```", re.DOTALL)


def example_receiver(secret: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    source = EXAMPLE.search((Path(settings.BASE_DIR) / "docs" / "tools.md").read_text())
    assert source, "docs/tools.md lost its receiver example"
    monkeypatch.setenv("PARLEY_WEBHOOK_SECRET", secret)
    namespace: dict[str, Any] = {"__name__": "receiver_example"}
    exec(compile(source.group(1), "docs/tools.md", "exec"), namespace)  # noqa: S102
    return namespace


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[str]:
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1"]
    example = example_receiver(SECRET, monkeypatch)
    server = example["ThreadingHTTPServer"](("127.0.0.1", 0), example["ToolHandler"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/weather"
    server.shutdown()
    server.server_close()


def test_the_documented_receiver_verifies_parleys_signature(served: str) -> None:
    tool = ToolFactory(server_url=served, auth_config={"type": "hmac", "secret": SECRET})
    run = async_to_sync(tool_execute)(tool=tool, arguments={"city": "Paris"})
    assert run.execution.outcome == ExecutionOutcome.SUCCESS
    assert run.result == '{"city":"Paris","temperature":18,"conditions":"sunny"}'


def test_the_documented_receiver_refuses_another_secret(served: str) -> None:
    other = "whsec_" + "A" * 32
    tool = ToolFactory(server_url=served, auth_config={"type": "hmac", "secret": other})
    run = async_to_sync(tool_execute)(tool=tool, arguments={"city": "Paris"})
    assert run.execution.status_code == 401
    assert "the signature does not match" in run.result
