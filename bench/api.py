"""Load-test the JSON API against minimal Django views, both served by Parley's gunicorn setup.

    .venv/bin/python bench/api.py                       # a throwaway SQLite file
    .venv/bin/python bench/api.py --database-url postgres://user:pw@127.0.0.1:5432/postgres

With a PostgreSQL URL, a new database is created next to the one named (the user needs CREATEDB)
and dropped at the end; the database in the URL is not touched. The run migrates it, creates a
team and key with the management commands and one agent with the service, times API-key
authentication in-process, then starts two gunicorn servers with config/gunicorn.py (as
`make run` does) on 127.0.0.1: Parley (config.settings.base) and the minimal views of
bench/minimal.py (bench.settings: the same settings and middleware, another urlconf).
Each endpoint gets the same bounded number of requests at the same concurrency from threads
that share this process, after a warm-up. The servers and the database go away on exit, error
or SIGTERM included.
"""

import argparse
import http.client
import io
import json
import math
import os
import platform
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    add_database_url_argument,
    busy_cpu_seconds,
    exit_on_sigterm,
    free_port,
    nearest_rank_ms,
    throwaway_database,
)

EPHEMERAL_BODY = {"configuration": {"llm": {"system_prompt": "hi"}}, "ttl_seconds": 600}
AUTH_GOAL_MS = 0.2  # the read and write goals are with their endpoints, in _pairs()


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_database_url_argument(parser)
    parser.add_argument("--requests", type=int, default=500, help="per endpoint and round")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--rounds", type=int, default=8, help="Parley and minimal alternate")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured requests per endpoint")
    parser.add_argument(
        "--worker-class",
        default="sync",
        choices=["sync", "asgi"],
        help="gunicorn worker: sync serves config.wsgi (production), asgi serves config.asgi",
    )
    parser.add_argument("--auth-calls", type=int, default=5000, help="in-process auth calls")
    parser.add_argument(
        "--conn-max-age", type=int, default=None, help="DB_CONN_MAX_AGE for the servers"
    )
    args = parser.parse_args()
    if args.requests < args.concurrency or args.concurrency < 1 or args.rounds < 1:
        parser.error("need --rounds >= 1 and --requests >= --concurrency >= 1")
    return args


@dataclass(frozen=True)
class Fixture:
    team_id: int
    agent_id: str
    secret: str


def _create_fixture() -> Fixture:
    """Schema, a team, a read-write key and one agent, as an operator would make them."""
    from django.core.management import call_command

    from activity.services import SYSTEM
    from agents.configuration import AgentConfiguration
    from agents.services import agent_create
    from teams.models import Team

    call_command("migrate", verbosity=0)
    owner = {"owner": "bench@example.com", "password": secrets.token_hex(8)}
    call_command("createteam", "Bench", **owner, stdout=io.StringIO())
    key = io.StringIO()  # createapikey prints the key and nothing else
    call_command("createapikey", "Bench", name="bench", stdout=key)
    team = Team.objects.get(name="Bench")
    configuration = AgentConfiguration.model_validate(EPHEMERAL_BODY["configuration"])
    agent = agent_create(team=team, actor=SYSTEM, name="Bench agent", configuration=configuration)
    return Fixture(team_id=team.pk, agent_id=str(agent.pk), secret=key.getvalue().strip())


def _time_auth(secret: str, calls: int) -> tuple[float, float]:
    """Mean ms of the API-key check every API request makes, on this process's connection:
    for a key the process remembers (the usual case), and for one it must look up."""
    from teams.auth import _caller_for_key
    from teams.selectors import api_key_forget

    caller = _caller_for_key(secret, write=False)  # connects, and records the key's last use
    start = time.perf_counter()
    for _ in range(calls):
        _caller_for_key(secret, write=False)
    remembered = (time.perf_counter() - start) / calls * 1000
    assert caller.api_key is not None
    start = time.perf_counter()
    for _ in range(calls):
        api_key_forget(caller.api_key)
        _caller_for_key(secret, write=False)
    looked_up = (time.perf_counter() - start) / calls * 1000
    return remembered, looked_up


def _wait_listening(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not listen on 127.0.0.1:{port} within 60 s")


@dataclass(frozen=True)
class Server:
    port: int
    pid: int  # gunicorn's master; its children are the workers

    def cpu_seconds(self) -> float:
        """User and system CPU time of the workers so far, read from /proc (Linux only)."""
        if not Path("/proc/self/stat").exists():
            return math.nan
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue  # a process that ended while we looked
            if int(fields[1]) == self.pid:  # the fields after the name: state, ppid, …
                total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
        return total / os.sysconf("SC_CLK_TCK")


@contextmanager
def _gunicorn(settings_module: str, log: Path, worker_class: str) -> Iterator[Server]:
    """Serves Parley with its gunicorn settings on a free port of 127.0.0.1: config.wsgi, or
    config.asgi under gunicorn's ASGI worker, for comparison."""
    from gunicorn.config import KNOWN_SETTINGS

    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--config", "python:config.gunicorn"]
    app = "config.wsgi:application" if worker_class == "sync" else "config.asgi:application"
    command += ["--bind", f"127.0.0.1:{port}", "--worker-class", worker_class, app]
    if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS):
        # Gunicorn >= 25.1 opens a control socket at one path per user: not ours to take over.
        command.append("--no-control-socket")
    env = os.environ | {"DJANGO_SETTINGS_MODULE": settings_module}
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_listening(port, process, log)
        yield Server(port=port, pid=process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the session started above: master and workers
            process.wait()


@dataclass(frozen=True)
class Target:
    label: str
    server: Server
    method: str
    path: str
    expect: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def request_bytes(self) -> bytes:
        headers = {"Host": f"127.0.0.1:{self.server.port}"} | self.headers
        if self.body:
            headers["Content-Length"] = str(len(self.body))
        lines = [f"{self.method} {self.path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
        return "\r\n".join([*lines, "", ""]).encode() + self.body


@dataclass
class Measured:
    seconds: float = 0.0
    requests: int = 0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, other: "Measured") -> None:
        self.seconds += other.seconds
        self.requests += other.requests
        self.server_cpu += other.server_cpu
        self.client_cpu += other.client_cpu
        self.latencies += other.latencies
        self.errors += other.errors

    def percentile_ms(self, q: float) -> float:
        return nearest_rank_ms(self.latencies, q)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def server_cpu_ms(self) -> float:
        return self.server_cpu / self.requests * 1000

    @property
    def client_cpu_ms(self) -> float:
        return self.client_cpu / self.requests * 1000


def _pooled(rounds: list[Measured]) -> Measured:
    total = Measured()
    for measured in rounds:
        total.add(measured)
    return total


class Connection:
    """Just enough HTTP/1.1 for these endpoints, and lighter on the shared CPUs than http.client.

    Gunicorn's sync workers close the connection after each response; it is reopened then."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None

    def exchange(self, request: bytes) -> int:
        """Sends one request, reads the whole response and returns its status."""
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        self.sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += self._receive()
        head, _, body = data.partition(b"\r\n\r\n")
        head = head.lower()
        closes = b"\r\nconnection: close" in head
        if length := re.search(rb"\r\ncontent-length: *(\d+)", head):
            while len(body) < int(length[1]):
                body += self._receive()
        elif not closes:
            raise http.client.HTTPException("a response with no Content-Length")
        if closes:
            self.close()
        return int(head[9:12])

    def _receive(self) -> bytes:
        assert self.sock is not None
        if chunk := self.sock.recv(65536):
            return chunk
        raise http.client.IncompleteRead(b"")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _client(target: Target, quota: int, start: threading.Barrier, into: Measured) -> None:
    """Sequential requests on one connection at a time."""
    conn = Connection(target.server.port)
    request = target.request_bytes()
    start.wait()
    for _ in range(quota):
        began = time.perf_counter()
        try:
            status = conn.exchange(request)
        except (OSError, http.client.HTTPException) as exc:
            into.errors[type(exc).__name__] += 1
            conn.close()
            continue
        into.latencies.append(time.perf_counter() - began)
        if status != target.expect:
            into.errors[f"HTTP {status}"] += 1
    conn.close()


def _drive(target: Target, requests: int, concurrency: int) -> Measured:
    """`requests` requests from `concurrency` threads, timed from the first to the last."""
    per_thread = [Measured() for _ in range(concurrency)]
    start = threading.Barrier(concurrency + 1)
    threads = [
        threading.Thread(
            target=_client,
            args=(target, requests // concurrency + (i < requests % concurrency), start, mine),
        )
        for i, mine in enumerate(per_thread)
    ]
    for thread in threads:
        thread.start()
    server_cpu, client_cpu = target.server.cpu_seconds(), time.process_time()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    total = Measured(
        seconds=time.perf_counter() - began,
        requests=requests,
        server_cpu=target.server.cpu_seconds() - server_cpu,
        client_cpu=time.process_time() - client_cpu,
    )
    for mine in per_thread:
        total.latencies += mine.latencies
        total.errors += mine.errors
    return total


@dataclass(frozen=True)
class Pair:
    """Parley's endpoint and the minimal view doing the same work, with the goals Parley has."""

    name: str
    parley: Target
    minimal: Target
    min_ratio: float
    max_p99_ms: float


def _pairs(parley: Server, minimal: Server, fixture: Fixture) -> list[Pair]:
    key = {"x-api-key": fixture.secret}
    body = json.dumps(EPHEMERAL_BODY).encode()
    json_type = {"Content-Type": "application/json"}
    agent = fixture.agent_id
    insert = f"/v1/minimal/team/{fixture.team_id}/ephemeral-agent"
    read = Pair(
        "read",
        Target("GET /v1/agent/{id}", parley, "GET", f"/v1/agent/{agent}", 200, b"", key),
        Target("minimal read", minimal, "GET", f"/v1/minimal/agent/{agent}", 200),
        min_ratio=0.7,
        max_p99_ms=100,
    )
    write = Pair(
        "write",
        Target(
            "POST /v1/ephemeral-agent",
            parley,
            "POST",
            "/v1/ephemeral-agent",
            200,
            body,
            key | json_type,
        ),
        Target("minimal insert", minimal, "POST", insert, 200, body, json_type),
        min_ratio=0.5,
        max_p99_ms=200,
    )
    return [read, write]


def _measure(pairs: list[Pair], args: argparse.Namespace) -> tuple[dict[str, list[Measured]], str]:
    """Warms every target up, then runs them all in turn, round after round, so that whatever
    else the machine does in the meantime falls on Parley and the minimal view alike.

    Also says how busy the CPUs were meanwhile, and how much of that was not this benchmark."""
    targets = [target for pair in pairs for target in (pair.parley, pair.minimal)]
    for target in targets:
        _drive(target, args.warmup, args.concurrency)
    rounds: dict[str, list[Measured]] = {target.label: [] for target in targets}
    busy, began = busy_cpu_seconds(), time.perf_counter()
    for _ in range(args.rounds):
        for target in targets:
            rounds[target.label].append(_drive(target, args.requests, args.concurrency))
    capacity = (time.perf_counter() - began) * (os.cpu_count() or 1)
    busy = busy_cpu_seconds() - busy
    ours = sum(m.server_cpu + m.client_cpu for runs in rounds.values() for m in runs)
    note = (
        f"CPUs busy during the rounds: {busy / capacity:.0%}, of which gunicorn workers and "
        f"this client {ours / capacity:.0%}, everything else {(busy - ours) / capacity:.0%} "
        "(the database server's work included)"
    )
    return rounds, note


def _describe_setup(args: argparse.Namespace) -> str:
    from django.conf import settings
    from django.db import connection

    from config import gunicorn

    if connection.vendor == "postgresql":
        version = connection.cursor().connection.info.server_version  # e.g. 150018
        database = f"PostgreSQL {version // 10000}.{version % 100}"
    else:
        import sqlite3

        database = f"SQLite {sqlite3.sqlite_version}"
    conn_max_age = settings.DATABASES["default"]["CONN_MAX_AGE"]
    access_log = "on" if gunicorn.accesslog else "off"
    return (
        f"{database}, DB_CONN_MAX_AGE={conn_max_age}; gunicorn {gunicorn.workers} "
        f"{args.worker_class} workers, access log {access_log}\n"
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}; "
        f"{args.requests} requests x {args.rounds} rounds per endpoint at concurrency "
        f"{args.concurrency}, after {args.warmup} warm-up requests"
    )


def _verdict(met: bool, value: float, goal: float) -> str:
    return "met" if met else f"MISSED by {abs(value - goal) / goal:.0%}"


def _row(label: str, m: Measured, ratio: str, cpu_ratio: str) -> str:
    errors = ", ".join(f"{k} x{n}" for k, n in m.errors.items()) or "none"
    return (
        f"| {label} | {m.per_second:.0f} | {m.percentile_ms(0.5):.1f} | "
        f"{m.percentile_ms(0.99):.1f} | {ratio} | {m.server_cpu_ms:.2f} | {cpu_ratio} | "
        f"{m.client_cpu_ms:.2f} | {errors} |"
    )


def _report(
    setup: str, pairs: list[Pair], rounds: dict[str, list[Measured]], auth_ms: tuple[float, float]
) -> None:
    """The table (Markdown), then each goal met or missed. The ratio is Parley's req/s over the
    minimal view's; the CPU ratio, minimal's server CPU per request over Parley's, is the same
    comparison made from CPU time, which other work on the machine disturbs less."""
    print(setup, end="\n\n")
    print("| endpoint | req/s | p50 ms | p99 ms | ratio (per round) | server CPU ms/req "
          "| CPU ratio | client CPU ms/req | errors |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    verdicts = []
    for pair in pairs:
        parley, minimal = _pooled(rounds[pair.parley.label]), _pooled(rounds[pair.minimal.label])
        ratio = parley.per_second / minimal.per_second
        per_round = [
            p.per_second / m.per_second
            for p, m in zip(rounds[pair.parley.label], rounds[pair.minimal.label], strict=True)
        ]
        spread = f"{ratio:.2f} ({min(per_round):.2f}-{max(per_round):.2f})"
        cpu_ratio = f"{minimal.server_cpu_ms / parley.server_cpu_ms:.2f}"
        print(_row(pair.parley.label, parley, spread, cpu_ratio))
        print(_row(pair.minimal.label, minimal, "", ""))
        p99 = parley.percentile_ms(0.99)
        verdicts.append(
            f"{pair.name} ratio {ratio:.2f} (goal >= {pair.min_ratio}): "
            f"{_verdict(ratio >= pair.min_ratio, ratio, pair.min_ratio)}; "
            f"{pair.name} p99 {p99:.1f} ms (goal < {pair.max_p99_ms} ms): "
            f"{_verdict(p99 < pair.max_p99_ms, p99, pair.max_p99_ms)}"
        )
    remembered, looked_up = auth_ms
    auth_verdict = _verdict(remembered < AUTH_GOAL_MS, remembered, AUTH_GOAL_MS)
    verdicts.append(
        f"auth in-process {remembered:.3f} ms per call (goal < 0.2 ms): {auth_verdict}; "
        f"{looked_up:.3f} ms when the key is not yet remembered (one query)"
    )
    print("", *verdicts, sep="\n")


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
        import django
        from django.db import connections

        django.setup()
        fixture = _create_fixture()
        auth_ms = _time_auth(fixture.secret, args.auth_calls)
        setup = _describe_setup(args)
        connections.close_all()
        parley = stack.enter_context(
            _gunicorn("config.settings.base", workdir / "parley.log", args.worker_class)
        )
        minimal = stack.enter_context(
            _gunicorn("bench.settings", workdir / "minimal.log", args.worker_class)
        )
        pairs = _pairs(parley, minimal, fixture)
        rounds, machine = _measure(pairs, args)
    setup += f"\n{machine}"
    _report(setup, pairs, rounds, auth_ms)
    return 1 if any(m.errors for runs in rounds.values() for m in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
