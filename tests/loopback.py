"""A threaded HTTP server on 127.0.0.1 for the stand-ins of remote APIs (Daily, Agora, iwy):
every request goes to the stand-in's own `_serve(handler)`, which answers in that API's shapes;
and `free_port`, for the tests that start a real server of their own."""

import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on just now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Seen:
    """A request the stand-in received."""

    method: str
    path: str  # after the API's own prefix
    headers: dict[str, str]
    body: Any
    query: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Scripted:
    """What a test makes the stand-in answer to the next `times` matching requests."""

    method: str
    path: str  # a prefix of the path after the API's own prefix
    status: int
    body: Any
    delay: float = 0.0
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)


class LoopbackAPI:
    """Mixed into a stand-in, which calls `_listen()` once it is set up."""

    server: ThreadingHTTPServer
    thread: threading.Thread

    def _listen(self) -> None:
        serve = self._serve

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError
