"""llama.cpp's server while it loads its model, which a test cannot hold it in: every request
gets the 503 and the error llama.cpp answers then (its server.cpp, `format_error_response("Loading
model", ERROR_TYPE_UNAVAILABLE)`). On loopback, at a port the test chooses, so that the real
server can take the port over once the stand-in is gone."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOADING = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}


class _Loading(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(LOADING).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


@contextmanager
def loading_llama(port: int) -> Iterator[str]:
    """The stand-in at 127.0.0.1:`port` until the block ends: its /v1 address."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _Loading)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
