"""What the Providers page learns of the local model's server: ready with its model and speed,
loading, or down with why; and a model path that cannot be read because it is no file. The
page's other states are in tests/providers/test_views.py."""

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from localllm.selectors import LocalLLMUnavailable, local_llm_status, model_path
from tests.conftest import Cast, signed_in
from tests.loopback import free_port

from .stand_in import loading_llama


def test_a_loading_server_is_loading(settings: Any) -> None:
    with loading_llama(free_port()) as url:
        settings.LOCAL_LLM_URL = url
        status = local_llm_status()
    assert (status.state, status.model, status.speed) == ("loading", "", None)
    assert status.message == "The local model is loading: agents answer once it has."


def test_a_server_without_metrics_is_ready_with_no_speed(
    settings: Any, httpserver: HTTPServer
) -> None:
    # llama.cpp's server started without --metrics, as another install may run it.
    httpserver.expect_request("/v1/health").respond_with_json({"status": "ok"})
    model = {"id": "/models/qwen2.5-0.5b-instruct-q4_k_m.gguf", "object": "model"}
    httpserver.expect_request("/v1/models").respond_with_json({"data": [model]})
    httpserver.expect_request("/metrics").respond_with_data(
        '{"error":{"code":501,"message":"This server does not support metrics endpoint."}}',
        status=501,
    )
    settings.LOCAL_LLM_URL = httpserver.url_for("/v1")
    status = local_llm_status()
    assert (status.state, status.model, status.speed) == (
        "ready",
        "qwen2.5-0.5b-instruct-q4_k_m.gguf",
        None,
    )


@pytest.mark.local_llm
def test_the_speed_is_llamas_own_count_since_it_started(settings: Any, local_llm_url: str) -> None:
    body = {"messages": [{"role": "user", "content": "Hi."}], "max_tokens": 8}
    written = httpx.post(f"{local_llm_url}/chat/completions", json=body, timeout=60).json()
    settings.LOCAL_LLM_URL = local_llm_url
    speed = local_llm_status().speed
    assert speed is not None
    assert speed.tokens >= written["usage"]["completion_tokens"] > 0
    assert 1 < speed.tokens_per_second < 10_000
    assert 1 < speed.prompt_tokens_per_second < 100_000


def test_a_model_path_that_is_a_folder_cannot_be_read(settings: Any, tmp_path: Path) -> None:
    settings.LOCAL_LLM_MODEL = str(tmp_path)
    with pytest.raises(LocalLLMUnavailable) as raised:
        model_path()
    assert raised.value.message == (
        f"The local model {tmp_path} cannot be read (Is a directory): check LOCAL_LLM_MODEL."
    )


@pytest.mark.local_llm
@pytest.mark.django_db
def test_the_providers_page_shows_the_running_models_file_and_speed(
    cast: Cast, settings: Any, local_llm_url: str
) -> None:
    body = {"messages": [{"role": "user", "content": "Hi."}], "max_tokens": 8}
    httpx.post(f"{local_llm_url}/chat/completions", json=body, timeout=60).raise_for_status()
    settings.LOCAL_LLM_URL = local_llm_url
    settings.LLM_PROVIDER_DEFAULTS = {"local": {"base_url": local_llm_url}}
    page = signed_in(cast.viewer).get("/providers/?status=local", HTTP_HX_REQUEST="true")
    shown = page.content.decode()
    assert '<span class="badge badge-green">Model loaded</span>' in shown
    assert "<code>SmolLM2-135M-Instruct.Q4_1.gguf</code>" in shown
    speed = re.search(
        r"(\d+) tokens/s writing, (\d+) tokens/s reading, over the (\d+) tokens", shown
    )
    assert speed is not None, shown
    assert int(speed.group(1)) > 0
    assert int(speed.group(3)) >= 8
