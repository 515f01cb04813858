"""Time the tool execution engine against a bare httpx call to the same local receiver.

    .venv/bin/python bench/tools.py                       # a throwaway SQLite file
    .venv/bin/python bench/tools.py --database-url postgres://user:pw@127.0.0.1:5432/postgres

The throwaway database is made as bench/api.py makes it, migrated, and given a team and two
tools made with tools.services.tool_create: POST webhooks with a bearer token and an x-api-key
header (so the secrets are sent, then redacted in the record), a small parameters schema and
strict_params. The webhook receiver (bench/receiver.py) runs in its own process on 127.0.0.1:
POST /hook answers at once, POST /slow after 100 ms. OUTBOUND_ALLOWED_NETWORKS lets the engine
call it; everything else is Parley's production settings (config.settings.base).

One after another: `tool_execute` on one open OutboundClient (as a conversation's batch of calls
shares one), the ToolExecution it records included, and a bare httpx.AsyncClient (one,
keep-alive) posting the same body with the same headers to /hook. After a warm-up, each of the
`--requests` pairs runs both in random order, so that drift falls on both alike.

At once: `--concurrency` calls of each against /slow with asyncio.gather, on a new client each
time (as a new batch would), engine and bare httpx taking turns for `--bursts` bursts.

The exit status is 1 if any call failed, in either part, or an execution was not recorded.
"""

import argparse
import asyncio
import cProfile
import os
import platform
import pstats
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
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
    nearest_rank_ms,
    throwaway_database,
)

if TYPE_CHECKING:
    import httpx

    from parley.outbound import OutboundClient
    from tools.models import Tool

GOAL_P50_MS = 2.0
GOAL_P99_MS = 5.0
GOAL_BURST_S = 2.0
ARGUMENTS = {"order_id": "A-1042", "include_items": False}
SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "pattern": "^A-[0-9]+$", "description": "The order."},
        "include_items": {"type": "boolean", "description": "List the order's items too."},
    },
    "required": ["order_id"],
}


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_database_url_argument(parser)
    parser.add_argument("--requests", type=int, default=2000, help="timed calls of each kind")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured calls of each kind")
    parser.add_argument("--concurrency", type=int, default=200, help="calls at once per burst")
    parser.add_argument("--bursts", type=int, default=3, help="bursts of each kind, in turn")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the engine's timed calls, on stderr (its timings are then inflated)",
    )
    args = parser.parse_args()
    if args.requests < 100 or args.concurrency < 1 or args.bursts < 1 or args.warmup < 0:
        parser.error("need --requests >= 100, --concurrency >= 1, --bursts >= 1, --warmup >= 0")
    return args


def _create_tools(receiver: Process) -> tuple["Tool", "Tool"]:
    """Schema, a team and its two tools, as an operator would make them; each tool is then
    read back from the database, as the engine's callers load it (secrets decrypted once)."""
    from django.core.management import call_command

    from activity.services import SYSTEM
    from teams.models import Team
    from tools.models import Tool
    from tools.services import tool_create
    from tools.spec import ToolSpec

    call_command("migrate", verbosity=0)
    team = Team.objects.create(name="Bench", slug="bench")
    made = []
    for name, path in (("lookup_order", "/hook"), ("lookup_order_slowly", "/slow")):
        spec = ToolSpec.model_validate(
            {
                "name": name,
                "description": "Look an order up by its id.",
                "server_url": receiver.url(path),
                "parameters_schema": SCHEMA,
                "headers": {"x-api-key": "bench-api-key-7f3a9c"},
                "auth_config": {"type": "bearer", "token": "bench-bearer-token-51d2e8"},
                "strict_params": True,
            }
        )
        made.append(tool_create(team=team, actor=SYSTEM, spec=spec))
    return Tool.objects.get(pk=made[0].pk), Tool.objects.get(pk=made[1].pk)


@dataclass(frozen=True)
class Call:
    """What the bare call sends: the engine's own request for the same tool and arguments."""

    url: str
    headers: dict[str, str]
    body: bytes


def _bare_call(tool: "Tool") -> Call:
    from tools.execution import tool_request

    request, _ = tool_request(tool, ARGUMENTS, session=None, message_id="msg_bench")
    assert request.content is not None
    return Call(request.url, request.headers, request.content)


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    def percentile_ms(self, q: float, cpu: bool = False) -> float:
        return nearest_rank_ms(self.cpu_times if cpu else self.latencies, q)

    def mean_ms(self) -> float:
        return sum(self.latencies) / len(self.latencies) * 1000


async def _engine(tool: "Tool", outbound: "OutboundClient") -> str:
    """The call's outcome, "success" when it worked."""
    from tools.execution import tool_execute

    run = await tool_execute(tool=tool, arguments=ARGUMENTS, outbound=outbound)
    return str(run.execution.outcome)


async def _bare(client: "httpx.AsyncClient", call: Call) -> str:
    try:
        response = await client.post(call.url, content=call.body, headers=call.headers)
        response.json()
    except Exception as exc:
        return type(exc).__name__
    return "success" if response.status_code == 200 else f"HTTP {response.status_code}"


async def _timed(into: Sample, call: Callable[[], Awaitable[str]]) -> None:
    began, began_cpu = time.perf_counter(), time.process_time()
    outcome = await call()
    into.latencies.append(time.perf_counter() - began)
    into.cpu_times.append(time.process_time() - began_cpu)
    if outcome != "success":
        into.failures[outcome] += 1


def _bare_client() -> "httpx.AsyncClient":
    import httpx

    # The pool OutboundClient has: the pool's size changes its cost (see docs/benchmarks.md).
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=20)
    return httpx.AsyncClient(limits=limits)


async def _sequential(
    tool: "Tool", args: argparse.Namespace, profiler: cProfile.Profile | None
) -> tuple[Sample, Sample]:
    """Engine and bare calls in pairs, each pair in random order, one call at a time."""
    from parley.outbound import OutboundClient

    call, rng = _bare_call(tool), random.Random(20261125)
    engine, bare = Sample(), Sample()
    async with OutboundClient() as outbound, _bare_client() as client:
        for _ in range(args.warmup):
            await _engine(tool, outbound)
            await _bare(client, call)
        for _ in range(args.requests):
            pair: list[tuple[Sample, Callable[[], Awaitable[str]]]] = [
                (engine, lambda: _engine(tool, outbound)),
                (bare, lambda: _bare(client, call)),
            ]
            rng.shuffle(pair)
            for into, run in pair:
                watch = profiler if into is engine else None
                if watch is not None:
                    watch.enable()
                await _timed(into, run)
                if watch is not None:
                    watch.disable()
    return engine, bare


@dataclass
class Bursts:
    seconds: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        ordered = sorted(self.seconds)
        return f"{ordered[len(ordered) // 2]:.3f} ({ordered[0]:.3f}-{ordered[-1]:.3f})"


async def _burst(calls: list[Awaitable[str]], into: Bursts) -> None:
    began = time.perf_counter()
    outcomes = await asyncio.gather(*calls)
    into.seconds.append(time.perf_counter() - began)
    into.failures.update(outcome for outcome in outcomes if outcome != "success")


async def _concurrent(slow: "Tool", args: argparse.Namespace) -> tuple[Bursts, Bursts]:
    """Bursts of calls at once against /slow, engine and bare in turn, each on a new client."""
    from parley.outbound import OutboundClient

    call, engine, bare = _bare_call(slow), Bursts(), Bursts()
    for _ in range(args.bursts):
        async with OutboundClient() as outbound:
            await _burst([_engine(slow, outbound) for _ in range(args.concurrency)], engine)
        async with _bare_client() as client:
            await _burst([_bare(client, call) for _ in range(args.concurrency)], bare)
    return engine, bare


def _cpu_note(receiver: Process, measured: Callable[[], Any]) -> tuple[Any, str]:
    """Runs `measured`, and says how busy the CPUs were meanwhile and with what."""
    busy, ours, theirs = busy_cpu_seconds(), time.process_time(), receiver.cpu_seconds()
    began = time.perf_counter()
    result = measured()
    capacity = (time.perf_counter() - began) * (os.cpu_count() or 1)
    busy, ours = busy_cpu_seconds() - busy, time.process_time() - ours
    theirs = receiver.cpu_seconds() - theirs
    note = (
        f"CPUs busy: {busy / capacity:.0%}, of which this process {ours / capacity:.0%}, the "
        f"receiver {theirs / capacity:.0%}, everything else "
        f"{max(0.0, busy - ours - theirs) / capacity:.0%}"
    )
    return result, note


def _describe(args: argparse.Namespace) -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        version = connection.cursor().connection.info.server_version
        database = f"PostgreSQL {version // 10000}.{version % 100}"
    else:
        import sqlite3

        database = f"SQLite {sqlite3.sqlite_version}"
    return (
        f"{database}; {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}; {args.requests} calls of each one at a time, "
        f"in pairs of random order, after {args.warmup} warm-up calls of each; "
        f"{args.bursts} bursts of {args.concurrency} calls at once of each, in turn"
    )


def _failures(counter: Counter[str]) -> str:
    return ", ".join(f"{name} x{n}" for name, n in counter.items()) or "none"


def _verdict(value: float, goal: float) -> str:
    return "met" if value < goal else f"MISSED by {(value - goal) / goal:.0%}"


def _report_sequential(engine: Sample, bare: Sample) -> list[str]:
    print("| one at a time, POST /hook | p50 ms | p99 ms | mean ms | CPU p50 ms | failures |")
    print("|---|---:|---:|---:|---:|---|")
    for label, s in (("tool_execute", engine), ("bare httpx", bare)):
        print(
            f"| {label} | {s.percentile_ms(0.5):.2f} | {s.percentile_ms(0.99):.2f} | "
            f"{s.mean_ms():.2f} | {s.percentile_ms(0.5, cpu=True):.2f} | "
            f"{_failures(s.failures)} |"
        )
    p50 = engine.percentile_ms(0.5) - bare.percentile_ms(0.5)
    p99 = engine.percentile_ms(0.99) - bare.percentile_ms(0.99)
    cpu = engine.percentile_ms(0.5, cpu=True) - bare.percentile_ms(0.5, cpu=True)
    print(
        f"| overhead | {p50:+.2f} | {p99:+.2f} | {engine.mean_ms() - bare.mean_ms():+.2f} | "
        f"{cpu:+.2f} | |"
    )
    return [
        f"p50 overhead {p50:.2f} ms (goal < {GOAL_P50_MS:g} ms): {_verdict(p50, GOAL_P50_MS)}",
        f"p99 overhead {p99:.2f} ms (goal < {GOAL_P99_MS:g} ms): {_verdict(p99, GOAL_P99_MS)}",
    ]


def _report_bursts(engine: Bursts, bare: Bursts, concurrency: int) -> list[str]:
    print(f"| {concurrency} at once, POST /slow (100 ms) | wall s: median (min-max) | failures |")
    print("|---|---:|---|")
    for label, b in (("tool_execute", engine), ("bare httpx", bare)):
        print(f"| {label} | {b.summary()} | {_failures(b.failures)} |")
    slowest, failed = max(engine.seconds), sum(engine.failures.values())
    return [
        f"{concurrency} at once: slowest burst {slowest:.3f} s (goal < {GOAL_BURST_S:g} s): "
        f"{_verdict(slowest, GOAL_BURST_S)}; {failed} failed (goal 0): "
        f"{'met' if failed == 0 else 'MISSED'}"
    ]


def _print_profile(profiler: cProfile.Profile) -> None:
    """Where the engine's timed calls spent their time; the profiler slows them down, so the
    table's figures from a profiled run are not the engine's."""
    print("-- the engine's timed calls (profiled, so slower), by own time", file=sys.stderr)
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats("tottime").print_stats(30)


def _recorded(tool_ids: list[Any]) -> Counter[str]:
    from tools.models import ToolExecution

    outcomes = ToolExecution.objects.filter(tool_id__in=tool_ids).values_list("outcome", flat=True)
    return Counter(outcomes)


def _run(args: argparse.Namespace, receiver: Process) -> bool:
    """Everything after the setup; False when a call failed or was not recorded."""
    hook, slow = _create_tools(receiver)
    setup = _describe(args)
    profiler = cProfile.Profile() if args.profile else None
    (engine, bare), sequential_note = _cpu_note(
        receiver, lambda: asyncio.run(_sequential(hook, args, profiler))
    )
    (engine_bursts, bare_bursts), burst_note = _cpu_note(
        receiver, lambda: asyncio.run(_concurrent(slow, args))
    )
    recorded = _recorded([hook.pk, slow.pk])
    notes = f"One at a time: {sequential_note}\nAt once: {burst_note}"
    print(setup, notes, sep="\n", end="\n\n")
    verdicts = _report_sequential(engine, bare)
    print()
    verdicts += _report_bursts(engine_bursts, bare_bursts, args.concurrency)
    expected = (args.warmup + args.requests) + args.bursts * args.concurrency
    verdicts.append(f"recorded executions: {_failures(recorded)} (expected success x{expected})")
    print("", *verdicts, sep="\n")
    if profiler is not None:
        _print_profile(profiler)
    failures = engine.failures + bare.failures + engine_bursts.failures + bare_bursts.failures
    return not failures and recorded == Counter({"success": expected})


def main() -> int:
    args = _parse_args()
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="parley-bench-")))
        os.environ["DATABASE_URL"] = stack.enter_context(
            throwaway_database(args.database_url, workdir)
        )
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
        os.environ["OUTBOUND_ALLOWED_NETWORKS"] = "127.0.0.1"
        import django
        from django.db import connections

        django.setup()
        receiver = stack.enter_context(bench_script("receiver.py"))
        ok = _run(args, receiver)
        connections.close_all()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
