"""Daily's REST API, as its documentation describes it, on a loopback HTTP server: rooms, meeting
tokens, room presence and room deletion, with Daily's error bodies ({"error", "info"}). Tests
script failures and slow answers, say who is in a room, and read back every request made."""

import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback import LoopbackAPI, Scripted, Seen

ROOM_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
DOMAIN = "https://parley-test.daily.co"


@dataclass
class DailyStandIn(LoopbackAPI):
    key: str = field(default_factory=lambda: "daily_" + secrets.token_hex(8))
    rooms: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    presence: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    scripted: list[Scripted] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._listen()

    @property
    def url(self) -> str:
        return f"{self.origin}/v1"

    # What tests script.

    def fail(self, method: str, path: str, status: int, error: str, info: str = "") -> None:
        """The next `method` to a path starting with `path` answers Daily's error body."""
        body = {"error": error} | ({"info": info} if info else {})
        self.scripted.append(Scripted(method, path, status, body))

    def slow(self, method: str, path: str, seconds: float) -> None:
        """The next `method` to `path` answers as usual, after `seconds`."""
        self.scripted.append(Scripted(method, path, 0, None, delay=seconds))

    def join(self, room: str, user_name: str, user_id: str | None = None) -> dict[str, Any]:
        person = {
            "room": room,
            "id": str(uuid.uuid4()),
            "userId": user_id,
            "userName": user_name,
            "mtgSessionId": str(uuid.uuid4()),
            "joinTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "duration": 0,
        }
        self.presence.setdefault(room, []).append(person)
        return person

    def leave(self, room: str, user_name: str) -> None:
        self.presence[room] = [p for p in self.presence.get(room, []) if p["userName"] != user_name]

    def seen(self, method: str, path: str = "") -> list[Seen]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path)]

    # Serving.

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        path = handler.path.split("?")[0].removeprefix("/v1")
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self.lock:
            self.requests.append(Seen(handler.command, path, headers, body))
            script = next(
                (
                    s
                    for s in self.scripted
                    if s.method == handler.command and path.startswith(s.path)
                ),
                None,
            )
            if script is not None:
                script.times -= 1
                if script.times <= 0:
                    self.scripted.remove(script)
        if script is not None and script.delay:
            time.sleep(script.delay)
        if script is not None and script.status:
            status, answer = script.status, script.body
        else:
            status, answer = self._answer(handler.command, path, headers, body)
        data = json.dumps(answer).encode()
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return 400, {"error": "authorization-header-error", "info": "no Bearer header"}
        if auth.removeprefix("Bearer ") != self.key:
            return 401, {"error": "authentication-error", "info": "the API key is not valid"}
        if method == "POST" and path == "/rooms":
            return self._room_create(body)
        if method == "POST" and path == "/meeting-tokens":
            return self._token_create(body)
        found = re.fullmatch(r"/rooms/([^/]+)(/presence)?", path)
        if found is None:
            return 404, {"error": "not-found", "info": f"no such endpoint {path}"}
        name = found.group(1)
        if name not in self.rooms:
            return 404, {"error": "not-found", "info": f"room {name} was not found"}
        if method == "GET" and found.group(2):
            people = self.presence.get(name, [])
            return 200, {"total_count": len(people), "data": people}
        if method == "DELETE" and not found.group(2):
            del self.rooms[name]
            self.presence.pop(name, None)
            return 200, {"deleted": True, "name": name}
        return 404, {"error": "not-found", "info": f"{method} {path} is not an endpoint"}

    def _room_create(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 400, {"error": "json-parsing-error", "info": "the body is not JSON"}
        name = body.get("name") or secrets.token_urlsafe(15).replace("_", "x")
        if not ROOM_NAME.match(name):
            return 400, {"error": "invalid-request-error", "info": f"{name} is not a room name"}
        if name in self.rooms:
            return 400, {"error": "invalid-request-error", "info": f"a room named {name} exists"}
        if body.get("privacy", "public") not in ("public", "private"):
            return 400, {"error": "invalid-request-error", "info": "privacy is public or private"}
        room = {
            "id": str(uuid.uuid4()),
            "name": name,
            "api_created": True,
            "privacy": body.get("privacy", "public"),
            "url": f"{DOMAIN}/{name}",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "config": body.get("properties") or {},
        }
        self.rooms[name] = room
        return 200, room

    def _token_create(self, body: Any) -> tuple[int, Any]:
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict):
            return 400, {"error": "invalid-request-error", "info": "properties is required"}
        token = "eyJhbGciOiJIUzI1NiJ9." + secrets.token_urlsafe(24) + "." + secrets.token_hex(8)
        self.tokens[token] = properties
        return 200, {"token": token}
