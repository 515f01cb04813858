"""Starting llama.cpp's server on the local model."""

import json
import os
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
    # The longest reply, in tokens, unless a request asks for fewer or more: a small model can
    # run on for its whole context (2,000 tokens, a minute) when its prompt does not stop it.
    max_tokens: int = 256
    verbose: bool = False


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As a server binds: connections of an earlier run, closing (TIME_WAIT), do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
    params.n_predict = options.max_tokens
    params.n_parallel = options.parallel
    params.cpuparams.n_threads = options.threads
    params.cpuparams_batch.n_threads = options.threads
    params.cpuparams.poll = 0  # llama.cpp's own threads wait without spinning too
    params.cpuparams_batch.poll = 0
    params.verbosity = 3 if options.verbose else 0
    params.endpoint_metrics = True  # its speed, for the Providers page
    try:
        return xllamacpp.Server(params)
    except RuntimeError as exc:
        raise LocalLLMUnavailable(
            f"llama.cpp could not serve {options.model} ({exc}): is it a model llama.cpp "
            "supports, and is there memory for LOCAL_LLM_CONTEXT tokens?"
        ) from exc


def local_llm_refusal_start(*, host: str, port: int, reason: str) -> ThreadingHTTPServer:
    """Stands in for llama.cpp's server when the model cannot be served: every request gets
    503 and llama.cpp's error shape with `reason`, as llama.cpp answers while it loads. Parley,
    perhaps on another machine, then says why and fails a turn at once instead of finding
    nothing there. Serves from a thread until `shutdown()`; OSError when the port is taken."""
    body = json.dumps(
        {"error": {"code": 503, "message": reason, "type": "unavailable_error"}}
    ).encode()

    class Refusal(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _refuse(self) -> None:
            # Read what was sent: a socket closed on unread bytes is reset, and the client
            # may lose the answer.
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(503)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        daemon_threads = True

    server = Server((host, port), Refusal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
