"""Time a conversation through Parley, served by uvicorn, against the scripted LLM's own time.

    .venv/bin/python bench/chat.py                       # a throwaway SQLite file
    .venv/bin/python bench/chat.py --database-url postgres://user:pw@127.0.0.1:5432/postgres

The throwaway database is made as bench/api.py makes it, migrated, and given a team, a tool (a
POST webhook at bench/receiver.py's /hook, made with tools.services.tool_create) and a public
agent (agents.services.agent_create) whose llm.custom_url is the scripted LLM of bench/llm.py,
with a first message and the tool selected. Parley runs under uvicorn (config.asgi, production
settings) in its own process, as do the LLM and the receiver, all on 127.0.0.1; the server's
environment adds OUTBOUND_ALLOWED_NETWORKS=127.0.0.1 and raises the limits on starting sessions.

Time to first token, one message at a time: a few sessions are started with
POST /v1/start-agent-session; each message is POST .../messages with Accept: text/event-stream,
timed from the send to the first `token` event, and read to its `done`. The baseline is the same
kind of request (the same system prompt, history, tool definitions and settings) sent by the same
client straight to the LLM, timed to the first piece of text. After a warm-up, `--requests`
pairs, each pair in random order. The LLM answers every request after `--ttft-ms`.

Load: `--sessions` sessions at once, each sending `--messages` messages in turn, each message
asking for the tool, so that each turn is two LLM calls around one webhook call, all over
server-sent events. An error is any status but 200, an `error` event, a reply without `done`, a
failed reply, or a turn that did not make exactly one successful tool call. Reported with them:
the wall time and messages per second, the server's CPU per message, its resident memory (VmRSS
sampled every 50 ms) and the database connections it holds (sampled every 250 ms: its open
files of the SQLite database, or PostgreSQL's pg_stat_activity), and the other processes' peak
memory. `--conn-max-age` sets DB_CONN_MAX_AGE for the server, as in bench/api.py, and `--no-pool`
turns PostgreSQL's connection pool off; without them the server keeps config/asgi.py's defaults.

The exit status is 1 if anything failed, in either part, or a tool call was not recorded.
"""

import argparse
import asyncio
import importlib.metadata
import itertools
import json
import math
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    Process,
    add_database_url_argument,
    bench_script,
    busy_cpu_seconds,
    exit_on_sigterm,
    free_port,
    nearest_rank_ms,
    stopped_at_exit,
    throwaway_database,
)

if TYPE_CHECKING:
    import httpx

GOAL_P50_MS = 15.0
GOAL_P99_MS = 50.0
SYSTEM_PROMPT = (
    "You are the order desk of a small shop. Answer briefly; look orders up with the tool."
)
FIRST_MESSAGE = "Hello! Ask me about your order."
CHAT = "Hello, what can you do for me?"
ASK_TOOL = "Please use the tool to look up my order A-1042."
MAX_HISTORY = 32
SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "pattern": "^A-[0-9]+$", "description": "The order."},
        "include_items": {"type": "boolean", "description": "List the order's items too."},
    },
    "required": ["order_id"],
}
# Starting sessions is limited per address and agent, and a team's open sessions are capped:
# every session here comes from one address, to one agent, and stays open.
SERVER_ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "config.settings.base",
    "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1",
    "SESSION_STARTS_PER_ADDRESS_PER_MINUTE": "100000",
    "SESSION_STARTS_PER_AGENT_PER_MINUTE": "100000",
    "SESSION_MAX_CONCURRENT_PER_TEAM": "100000",
    "SESSION_ANONYMOUS_MAX_PER_AGENT": "100000",
    "SESSION_ANONYMOUS_MAX_PER_ADDRESS": "100000",
    "SESSION_ANONYMOUS_MAX_PER_TEAM": "100000",
}


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_database_url_argument(parser)
    parser.add_argument("--requests", type=int, default=300, help="timed messages of each kind")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured messages of each kind")
    parser.add_argument(
        "--latency-sessions", type=int, default=5, help="sessions the timed messages go to, in turn"
    )
    parser.add_argument("--sessions", type=int, default=50, help="sessions at once under load")
    parser.add_argument("--messages", type=int, default=10, help="messages per session under load")
    parser.add_argument("--ttft-ms", type=float, default=50, help="the LLM's time to first token")
    parser.add_argument("--chunk-ms", type=float, default=5, help="the LLM's time between pieces")
    parser.add_argument(
        "--conn-max-age", type=int, default=None, help="DB_CONN_MAX_AGE for the server"
    )
    parser.add_argument(
        "--no-pool", action="store_true", help="DB_POOL=false for the server (PostgreSQL)"
    )
    args = parser.parse_args()
    if args.requests < 100 or args.warmup < 0 or args.latency_sessions < 1:
        parser.error("need --requests >= 100, --warmup >= 0, --latency-sessions >= 1")
    if args.sessions < 1 or args.messages < 1:
        parser.error("need --sessions >= 1 and --messages >= 1")
    return args


# The processes: the scripted LLM, the webhook receiver and Parley.


@contextmanager
def parley_uvicorn(log: Path) -> Iterator[Process]:
    """Parley's ASGI application under uvicorn, one process, on a free port of 127.0.0.1."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-access-log", "--lifespan", "off"]
    env = os.environ | SERVER_ENVIRONMENT
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    with stopped_at_exit(process):
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start ({process.poll()}):\n{log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield Process(port=port, pid=process.pid)


# The database: the team, its tool and its agent.


@dataclass(frozen=True)
class Fixture:
    agent_id: str
    functions: list[dict[str, Any]]  # the tools as the engine offers them to the LLM
    temperature: float


def create_fixture(llm: Process, receiver: Process) -> Fixture:
    from django.core.management import call_command

    from activity.services import SYSTEM
    from agents.configuration import AgentConfiguration
    from agents.services import agent_create
    from teams.models import Team
    from tools.services import tool_create
    from tools.spec import ToolSpec

    call_command("migrate", verbosity=0)
    team = Team.objects.create(name="Bench", slug="bench")
    spec = {
        "name": "lookup_order",
        "description": "Look an order up by its id.",
        "server_url": receiver.url("/hook"),
        "parameters_schema": SCHEMA,
        "strict_params": True,
    }
    tool = tool_create(team=team, actor=SYSTEM, spec=ToolSpec.model_validate(spec))
    llm_config = {"provider": "custom", "model": "scripted", "custom_url": llm.url("/v1")}
    llm_config |= {"system_prompt": SYSTEM_PROMPT, "first_message": FIRST_MESSAGE}
    document = {"llm": llm_config, "tool_calling": {"selected_tool_ids": [str(tool.pk)]}}
    configuration = AgentConfiguration.model_validate(document)
    agent = agent_create(
        team=team,
        actor=SYSTEM,
        name="Bench agent",
        configuration=configuration,
        publish_status="public",
    )
    function = {"name": tool.name, "description": tool.description, "parameters": SCHEMA}
    functions = [{"type": "function", "function": function}]
    return Fixture(str(agent.pk), functions, configuration.llm.temperature)


# The client side: sessions, messages over server-sent events, and the LLM called directly.


@dataclass(frozen=True)
class Started:
    token: str
    messages_url: str


@dataclass
class Reply:
    status: int = 0
    first_token: float | None = None  # seconds from the send to the first token event
    total: float = 0.0  # seconds from the send to the end of the stream
    done: dict[str, Any] | None = None
    error: str = ""


async def _start(client: "httpx.AsyncClient", server: Process, agent_id: str) -> Started:
    response = await client.post(
        server.url("/v1/start-agent-session"), json={"agentId": agent_id, "mode": "chat"}
    )
    if response.status_code != 200:
        raise RuntimeError(f"starting a session: HTTP {response.status_code} {response.text}")
    body = response.json()
    return Started(body["sessionToken"], body["messagesUrl"])


async def _read_events(response: "httpx.Response", began: float, reply: Reply) -> None:
    event = ""
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            if event == "token" and reply.first_token is None:
                reply.first_token = time.perf_counter() - began
            elif event == "done":
                reply.done = json.loads(line[5:])
            elif event == "error":
                reply.error = "error event: " + json.loads(line[5:]).get("message", "")


async def _send(client: "httpx.AsyncClient", session: Started, content: str) -> Reply:
    """One message, its reply read to the end of the stream."""
    import httpx

    headers = {"Authorization": f"Bearer {session.token}", "Accept": "text/event-stream"}
    reply, began = Reply(), time.perf_counter()
    try:
        request = client.stream(
            "POST", session.messages_url, json={"content": content}, headers=headers
        )
        async with request as response:
            reply.status = response.status_code
            if response.status_code == 200:
                await _read_events(response, began, reply)
            else:
                await response.aread()
    except httpx.HTTPError as exc:
        reply.error = type(exc).__name__
    reply.total = time.perf_counter() - began
    return reply


def _problems(reply: Reply, tool_calls: int) -> list[str]:
    """What went wrong with a reply, in words; none when it is as it should be."""
    if reply.status != 200:
        return [reply.error or f"HTTP {reply.status}"]
    problems = [reply.error] if reply.error else []
    if reply.first_token is None:
        problems.append("no token")
    if reply.done is None:
        return [*problems, "no done"]
    if reply.done["message"]["failed"]:
        problems.append("failed reply")
    outcomes = [call["outcome"] for call in reply.done["tool_calls"]]
    if outcomes != ["success"] * tool_calls:
        problems.append(f"tool calls {outcomes}")
    return problems


async def llm_direct(
    client: "httpx.AsyncClient", llm: Process, body: dict[str, Any]
) -> tuple[float | None, str]:
    """The LLM's time to its first piece of text, in seconds, and the whole text."""
    first, text, began = None, [], time.perf_counter()
    async with client.stream("POST", llm.url("/v1/chat/completions"), json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                continue
            for choice in json.loads(line[5:]).get("choices") or []:
                if piece := (choice.get("delta") or {}).get("content"):
                    first = first if first is not None else time.perf_counter() - began
                    text.append(piece)
    return first, "".join(text)


class DirectConversation:
    """The requests the engine would make for a conversation, sent straight to the LLM."""

    def __init__(self, fixture: Fixture) -> None:
        self.fixture = fixture
        self.history: list[dict[str, Any]] = [{"role": "assistant", "content": FIRST_MESSAGE}]

    def request(self, content: str) -> dict[str, Any]:
        system = {"role": "system", "content": SYSTEM_PROMPT}
        said = self.history[-MAX_HISTORY:]
        return {
            "model": "scripted",
            "messages": [system, *said, {"role": "user", "content": content}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": self.fixture.temperature,
            "tools": self.fixture.functions,
        }

    def heard(self, content: str, answer: str) -> None:
        self.history += [
            {"role": "user", "content": content},
            {"role": "assistant", "content": answer},
        ]


# Part one: time to first token, one message at a time.


@dataclass
class Latencies:
    seconds: list[float] = field(default_factory=list)
    problems: Counter[str] = field(default_factory=Counter)

    def percentile_ms(self, q: float) -> float:
        return nearest_rank_ms(self.seconds, q)

    def mean_ms(self) -> float:
        return sum(self.seconds) / len(self.seconds) * 1000 if self.seconds else math.nan


async def _through_parley(client: "httpx.AsyncClient", session: Started, into: Latencies) -> None:
    reply = await _send(client, session, CHAT)
    into.problems.update(_problems(reply, tool_calls=0))
    if reply.first_token is not None:
        into.seconds.append(reply.first_token)


async def _straight(
    client: "httpx.AsyncClient", llm: Process, talk: DirectConversation, into: Latencies
) -> None:
    first, answer = await llm_direct(client, llm, talk.request(CHAT))
    talk.heard(CHAT, answer)
    if first is None:
        into.problems["no text"] += 1
    else:
        into.seconds.append(first)


async def _pairs(
    count: int,
    client: "httpx.AsyncClient",
    direct: "httpx.AsyncClient",
    llm: Process,
    conversations: list[tuple[Started, DirectConversation]],
) -> tuple[Latencies, Latencies]:
    """`count` messages of each kind, the sessions in turn, each pair in random order."""
    parley, own, rng = Latencies(), Latencies(), random.Random(20261125)
    for index in range(count):
        session, talk = conversations[index % len(conversations)]
        pair = [_through_parley(client, session, parley), _straight(direct, llm, talk, own)]
        rng.shuffle(pair)
        for run in pair:
            await run
    return parley, own


async def _one_at_a_time(
    server: Process, llm: Process, fixture: Fixture, args: argparse.Namespace
) -> tuple[Latencies, Latencies, float]:
    """Parley's and the LLM's own times to first token, and the server's CPU seconds per
    timed message."""
    import httpx

    async with httpx.AsyncClient(timeout=30) as client, httpx.AsyncClient(timeout=30) as direct:
        conversations = [
            (await _start(client, server, fixture.agent_id), DirectConversation(fixture))
            for _ in range(args.latency_sessions)
        ]
        await _pairs(args.warmup, client, direct, llm, conversations)
        cpu = server.cpu_seconds()
        parley, own = await _pairs(args.requests, client, direct, llm, conversations)
    return parley, own, (server.cpu_seconds() - cpu) / args.requests


# Part two: many sessions at once, each message with one tool call.


@dataclass
class Load:
    wall: float = 0.0
    first_tokens: Latencies = field(default_factory=Latencies)
    totals: Latencies = field(default_factory=Latencies)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    rss_before: float = 0.0
    rss_peak: float = 0.0
    connections: list[int] = field(default_factory=list)  # the server's, sampled

    @property
    def problems(self) -> Counter[str]:
        return self.totals.problems


@contextmanager
def _connection_counter(server: Process) -> Iterator[Callable[[], int]]:
    """Counts the database connections the server holds: its open files of the SQLite
    database, or PostgreSQL's count of connections to the throwaway database, ours left out."""
    url = os.environ["DATABASE_URL"]
    if url.startswith("sqlite:"):
        path = url.removeprefix("sqlite:///")

        def files() -> int:
            try:
                return sum(1 for fd in Path(f"/proc/{server.pid}/fd").iterdir() if _is(fd, path))
            except OSError:
                return -1

        yield files
        return
    import psycopg

    query = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    with psycopg.connect(url, autocommit=True) as watcher:
        yield lambda: watcher.execute(query).fetchone()[0]  # type: ignore[index]


def _is(fd: Path, path: str) -> bool:
    try:
        return os.readlink(fd) == path
    except OSError:  # closed meanwhile
        return False


async def _watch(server: Process, into: Load, connections: Callable[[], int]) -> None:
    """The server's resident memory, every 50 ms, and its database connections, every 250 ms."""
    for tick in itertools.count():
        into.rss_peak = max(into.rss_peak, server.memory_mib("VmRSS"))
        if tick % 5 == 0:
            into.connections.append(await asyncio.to_thread(connections))
        await asyncio.sleep(0.05)


async def _talk(client: "httpx.AsyncClient", session: Started, messages: int, into: Load) -> None:
    for _ in range(messages):
        reply = await _send(client, session, ASK_TOOL)
        into.totals.problems.update(_problems(reply, tool_calls=1))
        into.totals.seconds.append(reply.total)
        if reply.first_token is not None:
            into.first_tokens.seconds.append(reply.first_token)


async def _sessions_at_once(
    client: "httpx.AsyncClient",
    server: Process,
    fixture: Fixture,
    args: argparse.Namespace,
    count: Callable[[], int],
) -> Load:
    load = Load()
    starts = [_start(client, server, fixture.agent_id) for _ in range(args.sessions)]
    started = await asyncio.gather(*starts, return_exceptions=True)
    sessions = [s for s in started if isinstance(s, Started)]
    if len(sessions) < len(started):
        load.problems["session not started"] += len(started) - len(sessions)
    load.rss_before = server.memory_mib("VmRSS")
    watch = asyncio.create_task(_watch(server, load, count))
    cpu, ours, began = server.cpu_seconds(), time.process_time(), time.perf_counter()
    await asyncio.gather(*(_talk(client, s, args.messages, load) for s in sessions))
    load.wall = time.perf_counter() - began
    load.server_cpu, load.client_cpu = server.cpu_seconds() - cpu, time.process_time() - ours
    watch.cancel()
    return load


async def _at_once(server: Process, fixture: Fixture, args: argparse.Namespace) -> Load:
    import httpx

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=args.sessions)
    with _connection_counter(server) as count:
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            return await _sessions_at_once(client, server, fixture, args, count)


# The report.


def _server_connections() -> str:
    """How the server keeps database connections: config.asgi sets its own defaults."""
    code = (
        "import config.asgi; from django.conf import settings; "
        "db = settings.DATABASES['default']; pool = db.get('OPTIONS', {}).get('pool'); "
        'print(f"DB_CONN_MAX_AGE={db[\'CONN_MAX_AGE\']}, " + (f"a pool of '
        "{pool['min_size']}-{pool['max_size']} connections\" if pool else 'no pool'))"
    )
    env = os.environ | SERVER_ENVIRONMENT
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True)
    return run.stdout.decode().strip() or "unknown"


def _describe(args: argparse.Namespace) -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        version = connection.cursor().connection.info.server_version
        database = f"PostgreSQL {version // 10000}.{version % 100}"
    else:
        import sqlite3

        database = f"SQLite {sqlite3.sqlite_version}"
    connections = _server_connections()
    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    http = "httptools" if find_spec("httptools") else "h11"
    uvicorn = importlib.metadata.version("uvicorn")
    return (
        f"{database}, {connections}; uvicorn {uvicorn} ({loop}, {http}), one "
        f"process; {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, Python "
        f"{platform.python_version()}\n"
        f"The LLM: first piece after {args.ttft_ms:g} ms, then one every {args.chunk_ms:g} ms. "
        f"One at a time: {args.requests} messages of each kind in pairs of random order, after "
        f"{args.warmup} of each, over {args.latency_sessions} sessions. At once: "
        f"{args.sessions} sessions x {args.messages} messages, one tool call each"
    )


def _cpu_note(processes: dict[str, Process], measured: Callable[[], Any]) -> tuple[Any, str]:
    """Runs `measured`, and says how busy the CPUs were meanwhile and with what."""
    busy, ours = busy_cpu_seconds(), time.process_time()
    theirs = {name: p.cpu_seconds() for name, p in processes.items()}
    began = time.perf_counter()
    result = measured()
    capacity = (time.perf_counter() - began) * (os.cpu_count() or 1)
    busy, ours = busy_cpu_seconds() - busy, time.process_time() - ours
    theirs = {name: p.cpu_seconds() - theirs[name] for name, p in processes.items()}
    shares = ", ".join(f"{name} {t / capacity:.0%}" for name, t in theirs.items())
    rest = max(0.0, busy - ours - sum(theirs.values())) / capacity
    note = (
        f"CPUs busy: {busy / capacity:.0%}, of which {shares}, this client {ours / capacity:.0%}, "
        f"everything else {rest:.0%}"
    )
    return result, note


def _problems_text(counter: Counter[str]) -> str:
    return ", ".join(f"{name} x{n}" for name, n in counter.items()) or "none"


def _verdict(value: float, goal: float) -> str:
    return "met" if value < goal else f"MISSED by {(value - goal) / goal:.0%}"


def _report_latency(parley: Latencies, own: Latencies, cpu_per_message: float) -> list[str]:
    print("| time to first token, one at a time | p50 ms | p99 ms | mean ms | max ms | failures |")
    print("|---|---:|---:|---:|---:|---|")
    for label, s in (("through Parley", parley), ("the LLM's own", own)):
        print(
            f"| {label} | {s.percentile_ms(0.5):.1f} | {s.percentile_ms(0.99):.1f} | "
            f"{s.mean_ms():.1f} | {s.percentile_ms(1):.1f} | {_problems_text(s.problems)} |"
        )
    p50 = parley.percentile_ms(0.5) - own.percentile_ms(0.5)
    p99 = parley.percentile_ms(0.99) - own.percentile_ms(0.99)
    mean = parley.mean_ms() - own.mean_ms()
    print(f"| Parley's overhead | {p50:+.1f} | {p99:+.1f} | {mean:+.1f} | | |")
    return [
        f"p50 overhead {p50:.1f} ms (goal < {GOAL_P50_MS:g} ms): {_verdict(p50, GOAL_P50_MS)}",
        f"p99 overhead {p99:.1f} ms (goal < {GOAL_P99_MS:g} ms): {_verdict(p99, GOAL_P99_MS)}",
        f"server CPU per message, one at a time: {cpu_per_message * 1000:.1f} ms",
    ]


def _report_load(load: Load, args: argparse.Namespace, others: dict[str, Process]) -> list[str]:
    messages = args.sessions * args.messages
    memory = ", ".join(f"{name} {p.memory_mib():.0f} MiB" for name, p in others.items())
    held = max(load.connections, default=-1)
    rows = [
        ("messages, one tool call each", f"{messages}"),
        ("errors", _problems_text(load.problems)),
        ("wall time", f"{load.wall:.2f} s"),
        ("throughput", f"{messages / load.wall:.1f} messages/s"),
        ("time to first token, p50 / p99", f"{load.first_tokens.percentile_ms(0.5):.0f} / "
         f"{load.first_tokens.percentile_ms(0.99):.0f} ms"),
        ("whole reply (to `done`), p50 / p99", f"{load.totals.percentile_ms(0.5):.0f} / "
         f"{load.totals.percentile_ms(0.99):.0f} ms"),
        ("server CPU per message", f"{load.server_cpu / messages * 1000:.1f} ms"),
        ("client CPU per message", f"{load.client_cpu / messages * 1000:.1f} ms"),
        ("server RSS: before, peak", f"{load.rss_before:.0f} MiB, {load.rss_peak:.0f} MiB"),
        ("server's database connections, peak", f"{held}"),
        ("peak RSS of the others", memory),
    ]  # fmt: skip
    print(f"| {args.sessions} sessions at once x {args.messages} messages | |")
    print("|---|---:|")
    for label, value in rows:
        print(f"| {label} | {value} |")
    failed = sum(load.problems.values())
    verdict = "met" if not failed else "MISSED"
    return [f"{messages} messages at once: {failed} errors (goal 0): {verdict}"]


def _recorded(expected: int) -> tuple[bool, str]:
    from tools.models import ToolExecution

    recorded = Counter(ToolExecution.objects.values_list("outcome", flat=True))
    ok = recorded == Counter({"success": expected})
    return ok, f"recorded tool calls: {_problems_text(recorded)} (expected success x{expected})"


def _last_error(log: Path) -> str:
    """The last exception in the server's log, if any: the line that names it."""
    named = re.compile(r"[\w.]+(Error|Exception): ")
    lines = [line for line in log.read_text(errors="replace").splitlines() if named.match(line)]
    return f"the server's last exception: {lines[-1].strip()[:300]}" if lines else ""


def _run(args: argparse.Namespace, workdir: Path) -> bool:
    """Everything after the database is made; False when anything failed."""
    from django.db import connections

    log = workdir / "uvicorn.log"
    with ExitStack() as stack:
        timing = ["--ttft-ms", str(args.ttft_ms), "--chunk-ms", str(args.chunk_ms)]
        llm = stack.enter_context(bench_script("llm.py", *timing))
        receiver = stack.enter_context(bench_script("receiver.py"))
        fixture = create_fixture(llm, receiver)
        setup = _describe(args)
        connections.close_all()
        server = stack.enter_context(parley_uvicorn(log))
        processes = {"the server": server, "the LLM": llm, "the receiver": receiver}
        (parley, own, cpu_per_message), one_note = _cpu_note(
            processes, lambda: asyncio.run(_one_at_a_time(server, llm, fixture, args))
        )
        load, load_note = _cpu_note(processes, lambda: asyncio.run(_at_once(server, fixture, args)))
        print(setup, f"One at a time: {one_note}", f"At once: {load_note}", sep="\n", end="\n\n")
        verdicts = _report_latency(parley, own, cpu_per_message)
        print()
        verdicts += _report_load(load, args, {"the LLM": llm, "the receiver": receiver})
    recorded_ok, recorded = _recorded(args.sessions * args.messages)
    print("", *verdicts, recorded, _last_error(log), sep="\n")
    failed = parley.problems + own.problems + load.problems
    return not failed and recorded_ok


def main() -> int:
    args = _parse_args()
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="parley-bench-")))
        os.environ["DATABASE_URL"] = stack.enter_context(
            throwaway_database(args.database_url, workdir)
        )
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
        if args.conn_max_age is not None:
            os.environ["DB_CONN_MAX_AGE"] = str(args.conn_max_age)
        if args.no_pool:
            os.environ["DB_POOL"] = "false"
        import django
        from django.db import connections

        django.setup()
        stack.callback(connections.close_all)
        ok = _run(args, workdir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
