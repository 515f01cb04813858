"""iwy's REST API, as its documentation describes it (platform-apis.md §1), on a loopback HTTP
server: agents and tools (POST, GET, PATCH: only the fields sent change), single-use agents,
Bearer auth. Tests script failures and slow answers, change objects as someone on iwy's own
dashboard would, and read back every request made.

iwy documents no error body; this one answers {"error", "message"}. Like iwy's GET example, it
adds a field of its own to an agent's configuration (llm.cost_per_minute)."""

import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback import LoopbackAPI, Scripted, Seen

TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
METHODS = {"POST", "GET", "PUT", "PATCH", "DELETE"}
PUBLISH = {"draft", "private", "public"}
OBJECT = re.compile(r"^/(agent|tool)/([^/]+)$")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _problem(status: int, message: str) -> tuple[int, Any]:
    names = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 422: "Unprocessable"}
    return status, {"error": names.get(status, "Error"), "message": message}


@dataclass
class IwyStandIn(LoopbackAPI):
    key: str = field(default_factory=lambda: "iwy_sk_" + secrets.token_hex(12))
    user_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    ephemeral: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    scripted: list[Scripted] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._listen()

    @property
    def url(self) -> str:
        return f"{self.origin}/v1"

    # What tests script.

    def fail(self, method: str, path: str, status: int, message: str, times: int = 1) -> None:
        """The next `times` requests `method` to a path starting with `path` fail."""
        body = {"error": "Error", "message": message}
        self.scripted.append(Scripted(method, path, status, body, times=times))

    def slow(self, method: str, path: str, seconds: float, times: int = 1) -> None:
        """The next `method` to `path` answers as usual, after `seconds`."""
        self.scripted.append(Scripted(method, path, 0, None, delay=seconds, times=times))

    def edit(self, kind: str, remote_id: str, **changes: Any) -> None:
        """A change made on iwy's own dashboard."""
        store = self.agents if kind == "agent" else self.tools
        store[remote_id] |= changes

    def seen(self, method: str, path: str = "") -> list[Seen]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path)]

    # Serving.

    def _script_for(self, method: str, path: str) -> Scripted | None:
        with self.lock:
            script = next(
                (s for s in self.scripted if s.method == method and path.startswith(s.path)), None
            )
            if script is not None:
                script.times -= 1
                if script.times <= 0:
                    self.scripted.remove(script)
        return script

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
        script = self._script_for(handler.command, path)
        if script is not None and script.delay:
            time.sleep(script.delay)
        if script is not None and script.status:
            status, answer = script.status, script.body
        else:
            with self.lock:
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
        if headers.get("authorization", "") != f"Bearer {self.key}":
            return _problem(401, "Invalid or missing API key")
        if method == "POST" and path in ("/agent", "/tool", "/ephemeral-agent"):
            if not isinstance(body, dict):
                return _problem(400, "The body must be a JSON object")
            create = {
                "/agent": self._agent_create,
                "/tool": self._tool_create,
                "/ephemeral-agent": self._ephemeral_create,
            }
            return create[path](body)
        found = OBJECT.match(path)
        if found is None or method not in ("GET", "PATCH"):
            return _problem(404, f"No endpoint {method} {path}")
        kind, remote_id = found.groups()
        store = self.agents if kind == "agent" else self.tools
        if remote_id not in store:
            return _problem(404, f"{kind.capitalize()} not found")
        if method == "GET":
            return 200, store[remote_id]
        if not isinstance(body, dict):
            return _problem(400, "The body must be a JSON object")
        patched = store[remote_id] | {k: v for k, v in body.items() if k not in ("id", "user_id")}
        check = self._agent_problem if kind == "agent" else self._tool_problem
        if problem := check(patched):
            return _problem(422, problem)
        store[remote_id] = self._with_iwy_fields(kind, patched)
        return 200, store[remote_id]

    # Agents.

    def _agent_problem(self, agent: dict[str, Any]) -> str | None:
        if not isinstance(agent.get("name"), str) or not agent["name"].strip():
            return "name is required"
        if agent.get("publish_status", "draft") not in PUBLISH:
            return "publish_status must be one of draft, private, public"
        if not isinstance(agent.get("configuration", {}), dict):
            return "configuration must be an object"
        ids = (agent.get("configuration") or {}).get("tool_calling", {}).get("selected_tool_ids")
        if unknown := [i for i in ids or [] if i not in self.tools]:
            return f"Unknown tool ids: {', '.join(unknown)}"
        return None

    def _with_iwy_fields(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """What iwy adds of its own: the LLM's cost per minute."""
        if kind == "agent":
            llm = (obj.get("configuration") or {}).get("llm")
            if isinstance(llm, dict):
                llm["cost_per_minute"] = 0.001532
        return obj

    def _agent_create(self, body: dict[str, Any]) -> tuple[int, Any]:
        agent = {
            "id": str(uuid.uuid4()),
            "user_id": self.user_id,
            "publish_status": "draft",
            "configuration": {},
            "metadata": {},
        } | body
        if problem := self._agent_problem(agent):
            return _problem(400, problem)
        self.agents[agent["id"]] = self._with_iwy_fields("agent", agent)
        return 200, agent

    # Tools.

    def _tool_problem(self, tool: dict[str, Any]) -> str | None:
        for required in ("name", "description", "server_url", "parameters_schema"):
            if required not in tool:
                return f"{required} is required"
        if not TOOL_NAME.match(str(tool["name"])):
            return "name must be snake_case, e.g. get_weather"
        if tool.get("method", "POST") not in METHODS:
            return "method must be one of POST, GET, PUT, PATCH, DELETE"
        timeout = tool.get("timeout_seconds", 20)
        if not isinstance(timeout, int) or not 1 <= timeout <= 300:
            return "timeout_seconds must be between 1 and 300"
        return None

    def _tool_create(self, body: dict[str, Any]) -> tuple[int, Any]:
        tool = {
            "id": str(uuid.uuid4()),
            "user_id": self.user_id,
            "method": "POST",
            "headers": {},
            "timeout_seconds": 20,
            "is_async": False,
            "strict_params": False,
            "auth_config": {},
            "tags": [],
        } | body
        if problem := self._tool_problem(tool):
            return _problem(400, problem)
        self.tools[tool["id"]] = tool
        return 200, tool

    # Single-use agents.

    def _ephemeral_create(self, body: dict[str, Any]) -> tuple[int, Any]:
        if not isinstance(body.get("configuration"), dict):
            return _problem(400, "configuration is required")
        ttl = body.get("ttl_seconds", 300)
        if not isinstance(ttl, int) or not 60 <= ttl <= 86_400:
            return _problem(400, "ttl_seconds must be between 60 and 86400")
        now = datetime.now(UTC)
        agent = {
            "id": str(uuid.uuid4()),
            "expires_at": _iso(now + timedelta(seconds=ttl)),
            "created_at": _iso(now),
        }
        self.ephemeral[agent["id"]] = agent | {"request": body}
        return 200, {"agent": agent}
