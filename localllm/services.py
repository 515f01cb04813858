"""Starting llama.cpp's server on the local model."""

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .selectors import LocalLLMUnavailable


@dataclass(frozen=True)
class ServerOptions:
    model: Path
    host: str
    port: int
    threads: int
    context: int  # tokens, shared by the slots
    parallel: int  # conversations decoded at once
    verbose: bool = False


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def local_llm_start(*, options: ServerOptions) -> Any:
    """llama.cpp's OpenAI-compatible server on `options.model`, answering at
    http://HOST:PORT/v1 from threads of this process until the returned server is dropped.
    LocalLLMUnavailable when the port is taken or llama.cpp refuses the model."""
    # OpenMP's threads sleep when idle instead of spinning: on a small machine shared with
    # speech-to-text and voices, spinning threads cost the others 10-20x (issue 17). Read when
    # the library loads, hence before the import.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import xllamacpp

    if options.port and not _port_free(options.host, options.port):
        raise LocalLLMUnavailable(
            f"Port {options.port} on {options.host} is taken: stop what listens there or set "
            "LOCAL_LLM_PORT (and LOCAL_LLM_URL where Parley reaches it)."
        )
    params = xllamacpp.CommonParams()
    params.model.path = str(options.model)
    params.hostnames = [options.host]
    params.port = options.port
    params.n_ctx = options.context
    params.n_parallel = options.parallel
    params.cpuparams.n_threads = options.threads
    params.cpuparams_batch.n_threads = options.threads
    params.cpuparams.poll = 0  # llama.cpp's own threads wait without spinning too
    params.cpuparams_batch.poll = 0
    params.verbosity = 3 if options.verbose else 0
    try:
        return xllamacpp.Server(params)
    except RuntimeError as exc:
        raise LocalLLMUnavailable(
            f"llama.cpp could not serve {options.model} ({exc}): is it a model llama.cpp "
            "supports, and is there memory for LOCAL_LLM_CONTEXT tokens?"
        ) from exc
