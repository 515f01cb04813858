"""Agora's Conversational AI REST API (v2), as its documentation describes it, on a loopback
HTTP server: join, leave, query, list, history, speak and interrupt under
/api/conversational-ai-agent/v2/projects/{appid}, Basic auth, and Agora's error body
{"detail", "reason"}. Tests script failures (any status, a number of times) and slow answers,
move agents through their states, and read back every request made."""

import base64
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.loopback import LoopbackAPI, Scripted, Seen

PREFIX = "/api/conversational-ai-agent/v2"
STATES = ["IDLE", "STARTING", "RUNNING", "STOPPING", "STOPPED", "RECOVERING", "FAILED"]
AGENT_PATH = re.compile(r"/agents/([^/]+)(/leave|/history|/speak|/interrupt)?")


@dataclass
class RemoteAgent:
    agent_id: str
    name: str
    properties: dict[str, Any]
    status: str = "RUNNING"
    start_ts: int = field(default_factory=lambda: int(time.time()))
    stop_ts: int = 0
    message: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    spoken: list[dict[str, Any]] = field(default_factory=list)
    interrupted: int = 0


@dataclass
class AgoraStandIn(LoopbackAPI):
    app_id: str = field(default_factory=lambda: secrets.token_hex(16))
    customer_id: str = field(default_factory=lambda: "cust" + secrets.token_hex(8))
    customer_secret: str = field(default_factory=lambda: "secret" + secrets.token_hex(12))
    agents: dict[str, RemoteAgent] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    scripted: list[Scripted] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._listen()

    @property
    def url(self) -> str:
        return f"{self.origin}{PREFIX}"

    # What tests script.

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        detail: str = "",
        reason: str = "",
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next `times` `method`s to a path starting with `path` answer Agora's error."""
        body = {"detail": detail, "reason": reason}
        self.scripted.append(Scripted(method, path, status, body, times=times))
        if headers:
            self.scripted[-1].headers = headers

    def slow(self, method: str, path: str, seconds: float) -> None:
        """The next `method` to `path` answers as usual, after `seconds`."""
        self.scripted.append(Scripted(method, path, 0, None, delay=seconds))

    def only(self) -> RemoteAgent:
        (agent,) = self.agents.values()
        return agent

    def seen(self, method: str, path: str = "") -> list[Seen]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path)]

    # Serving.

    def _script_for(self, method: str, path: str) -> Scripted | None:
        with self.lock:
            script = next(
                (s for s in self.scripted if s.method == method and path.startswith(s.path)),
                None,
            )
            if script is not None:
                script.times -= 1
                if script.times <= 0:
                    self.scripted.remove(script)
        return script

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        found = re.fullmatch(rf"{PREFIX}/projects/([^/]+)(/.*)", parts.path)
        project, path = (found.group(1), found.group(2)) if found else ("", parts.path)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        headers = {k.lower(): v for k, v in handler.headers.items()}
        seen = Seen(handler.command, path, headers, body, query=parse_qs(parts.query))
        with self.lock:
            self.requests.append(seen)
        script = self._script_for(handler.command, path)
        if script is not None and script.delay:
            time.sleep(script.delay)
        extra: dict[str, str] = {}
        if script is not None and script.status:
            status, answer, extra = script.status, script.body, script.headers
        elif project != self.app_id:
            status, answer = 404, {"detail": "project not found", "reason": "InvalidRequest"}
        else:
            with self.lock:
                status, answer = self._answer(seen)
        self._reply(handler, status, answer, extra)

    def _reply(
        self, handler: BaseHTTPRequestHandler, status: int, answer: Any, extra: dict[str, str]
    ) -> None:
        data = b"" if answer is None else json.dumps(answer).encode()
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(data)))
            for name, value in extra.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting

    def _authorized(self, headers: dict[str, str]) -> bool:
        pair = f"{self.customer_id}:{self.customer_secret}".encode()
        return headers.get("authorization") == "Basic " + base64.b64encode(pair).decode()

    def _answer(self, seen: Seen) -> tuple[int, Any]:
        if not self._authorized(seen.headers):
            return 401, {"detail": "Invalid authentication credentials", "reason": "Unauthorized"}
        if seen.method == "POST" and seen.path == "/join":
            return self._join(seen.body)
        if seen.method == "GET" and seen.path == "/agents":
            return self._list(seen.query)
        found = AGENT_PATH.fullmatch(seen.path)
        agent = self.agents.get(found.group(1)) if found else None
        if found is None or agent is None:
            return 404, {"detail": "task not found", "reason": "TaskNotFound"}
        return self._on_agent(seen, agent, found.group(2) or "")

    def _on_agent(self, seen: Seen, agent: RemoteAgent, tail: str) -> tuple[int, Any]:
        running = agent.status == "RUNNING"
        if seen.method == "GET" and not tail:
            return 200, {
                "message": agent.message,
                "start_ts": agent.start_ts,
                "stop_ts": agent.stop_ts,
                "agent_id": agent.agent_id,
                "status": agent.status,
            }
        if tail == "/leave" and seen.method == "POST":
            if agent.status in ("STOPPED", "FAILED"):
                return 404, {"detail": "task not found", "reason": "TaskNotFound"}
            agent.status, agent.stop_ts = "STOPPED", int(time.time())
            return 200, None
        if not running:
            return 404, {"detail": "agent is not running", "reason": "TaskNotFound"}
        if tail == "/history" and seen.method == "GET":
            return 200, {
                "agent_id": agent.agent_id,
                "start_ts": agent.start_ts,
                "status": agent.status,
                "contents": agent.history,
            }
        if tail == "/speak" and seen.method == "POST":
            return self._speak(agent, seen.body)
        if tail == "/interrupt" and seen.method == "POST":
            agent.interrupted += 1
            return 200, self._ack(agent)
        return 404, {"detail": f"{seen.method} {seen.path} is not an endpoint", "reason": ""}

    def _ack(self, agent: RemoteAgent) -> dict[str, Any]:
        channel = agent.properties["channel"]
        return {"agent_id": agent.agent_id, "channel": channel, "start_ts": agent.start_ts}

    def _speak(self, agent: RemoteAgent, body: Any) -> tuple[int, Any]:
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text or len(text.encode()) > 512:
            return 400, {
                "detail": "text is required, at most 512 bytes",
                "reason": "InvalidRequest",
            }
        if body.get("priority", "INTERRUPT") not in ("INTERRUPT", "APPEND", "IGNORE"):
            return 400, {"detail": "priority is not valid", "reason": "InvalidRequest"}
        agent.spoken.append(body)
        return 200, self._ack(agent)

    def _join(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            return 400, {"detail": "properties is required", "reason": "InvalidRequest"}
        properties, name = body["properties"], str(body.get("name") or "")
        for required in ("channel", "agent_rtc_uid", "remote_rtc_uids", "tts", "llm"):
            if required not in properties:
                return 400, {
                    "detail": f"properties: {required} not found",
                    "reason": "InvalidRequest",
                }
        if not name:
            return 400, {"detail": "name is required", "reason": "InvalidRequest"}
        for agent in self.agents.values():
            if agent.name == name and agent.status not in ("STOPPED", "FAILED"):
                return 409, {"detail": "task conflict", "reason": "TaskConflict"}
        agent = RemoteAgent(secrets.token_hex(16).upper(), name, properties)
        self.agents[agent.agent_id] = agent
        return 200, {"agent_id": agent.agent_id, "create_ts": agent.start_ts, "status": "RUNNING"}

    def _list(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        channel = (query.get("channel") or [""])[0]
        states = (query.get("state") or ["2"])[0].split(",")
        wanted = {STATES[int(s)] for s in states if s.isdigit() and int(s) < len(STATES)}
        found = [
            {"start_ts": a.start_ts, "status": a.status, "agent_id": a.agent_id}
            for a in self.agents.values()
            if a.status in wanted and (not channel or a.properties.get("channel") == channel)
        ]
        data = {"count": len(found), "list": found}
        return 200, {"data": data, "meta": {"cursor": "", "total": len(found)}, "status": "ok"}
