"""Time an eval run with 1, 2 and 4 Celery workers, and Parley's time per turn beside the
conversation engine's own.

    .venv/bin/python bench/evals.py
    .venv/bin/python bench/evals.py --database-url postgres://user:pw@127.0.0.1:5432/postgres

A throwaway database (as bench/api.py makes it), a Redis server on a free loopback port and
bench/llm.py, the scripted LLM of bench/chat.py, answering each request `--ttft-ms` after it and
then word by word `--chunk-ms` apart (a 17-word sentence: about 0.5 s a reply by default, as a
hosted model streams). One agent on that LLM with a suite of `--scenarios` scripted scenarios of
`--turns` user turns each and two checks (a reply contains a word; ended within the turns).

For each worker count, that many `celery worker --pool=solo` processes (one play at a time
each) are started on the same broker and database, and one run of `--trials` trials per
scenario is started as the dashboard starts it (each scenario x trial queued for a worker) and
timed until its last result is settled. Printed per count: the wall time, the speed-up over one
worker and the efficiency (speed-up / workers). Then, over every turn played: the engine's own
turn time (the `total_ms` it records on each reply, the LLM's stream included) and the eval's
time per turn (each result's duration / its turns), whose difference is Parley's overhead per
turn: the simulated user's message recorded, the checks, the result's bookkeeping.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    add_database_url_argument,
    bench_script,
    exit_on_sigterm,
    free_port,
    stopped_at_exit,
    throwaway_database,
)

WORD = "scripted"  # in every reply of bench/llm.py


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_database_url_argument(parser)
    parser.add_argument("--scenarios", type=int, default=20)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--turns", type=int, default=3, help="user turns per scenario")
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--ttft-ms", type=int, default=300)
    parser.add_argument("--chunk-ms", type=int, default=15)
    return parser.parse_args()


@contextmanager
def _redis(workdir: Path) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(workdir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    with stopped_at_exit(process):
        time.sleep(0.5)
        yield f"redis://127.0.0.1:{port}/0"


@contextmanager
def _workers(count: int, workdir: Path) -> Iterator[None]:
    """`count` solo-pool workers on the broker and database of this run's environment."""
    with ExitStack() as stack:
        for n in range(count):
            log = (workdir / f"worker-{count}-{n}.log").open("wb")
            stack.callback(log.close)
            command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo"]
            command += ["-Q", "celery", "-n", f"bench{n}@%h", "--without-heartbeat"]
            command += ["--without-gossip", "--without-mingle", "--loglevel=WARNING"]
            process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            stack.enter_context(stopped_at_exit(process))
        time.sleep(4)  # started and connected to the broker before the run is queued
        yield


def _setup(llm_url: str, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The agent on the scripted LLM and its suite, made by the services."""
    from django.core.management import call_command

    from activity.services import SYSTEM
    from agents.configuration import AgentConfiguration
    from agents.services import agent_create
    from evals.services import scenario_create, scenario_spec
    from teams.models import Team

    call_command("migrate", verbosity=0)
    team = Team.objects.create(name="Bench")
    llm = {"custom_url": llm_url, "model": "scripted", "first_message": ""}
    configuration = AgentConfiguration.model_validate({"llm": llm})
    agent = agent_create(team=team, actor=SYSTEM, name="Support", configuration=configuration)
    for n in range(args.scenarios):
        spec = {
            "script": [f"Question {turn} of scenario {n}?" for turn in range(args.turns)],
            "max_turns": args.turns,
            "checks": [{"type": "reply_contains", "text": WORD}],
        }
        scenario_create(agent=agent, actor=SYSTEM, name=f"scenario {n}", spec=scenario_spec(spec))
    return agent


def _timed_run(agent, args: argparse.Namespace) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    from django.db import transaction

    from activity.services import SYSTEM
    from evals.models import EvalRun
    from evals.services import eval_run_start

    began = time.perf_counter()
    with transaction.atomic():
        run = eval_run_start(agent=agent, actor=SYSTEM, trials=args.trials)
    deadline = began + 600
    while EvalRun.objects.get(pk=run.pk).is_running:
        if time.perf_counter() > deadline:
            raise SystemExit("the run did not finish within 10 minutes: see the workers' logs")
        time.sleep(0.05)
    return time.perf_counter() - began, EvalRun.objects.get(pk=run.pk)


def _turn_times(runs: list) -> tuple[list[float], list[float]]:  # type: ignore[type-arg]
    """The engine's own time per turn and the eval's, over every result of `runs`."""
    from sessions.models import EventKind, SessionEvent

    engine, played = [], []
    for run in runs:
        for result in run.results.exclude(session=None):
            played.append(result.duration_ms / max(1, result.turns))
            replies = SessionEvent.objects.filter(
                session_id=result.session_id, kind=EventKind.MESSAGE, data__role="assistant"
            )
            engine += [data["total_ms"] for data in replies.values_list("data", flat=True)]
    return engine, played


def main() -> int:
    args = _parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="parley-bench-")))
        database = stack.enter_context(throwaway_database(args.database_url, workdir))
        llm = stack.enter_context(
            bench_script("llm.py", "--ttft-ms", str(args.ttft_ms), "--chunk-ms", str(args.chunk_ms))
        )
        os.environ |= {
            "DATABASE_URL": database,
            "REDIS_URL": stack.enter_context(_redis(workdir)),
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1",
        }
        import django

        django.setup()
        agent = _setup(llm.url("/v1"), args)
        plays = args.scenarios * args.trials
        timing = f"LLM {args.ttft_ms} ms to first token, {args.chunk_ms} ms a word"
        print(f"{args.scenarios} scenarios x {args.trials} trials = {plays} plays of "
              f"{args.turns} turns; {timing}")  # fmt: skip
        runs, first = [], None
        failed = 0
        for count in counts:
            with _workers(count, workdir):
                seconds, run = _timed_run(agent, args)
            runs.append(run)
            first = first or seconds * counts[0]
            speedup = first / seconds
            failed += run.failed + run.errors
            print(f"{count} worker(s): {seconds:.1f} s, {plays / seconds:.1f} plays/s, "
                  f"speed-up {speedup:.2f}, efficiency {speedup / count:.0%}, "
                  f"{run.passed} passed, {run.failed} failed, {run.errors} errors")  # fmt: skip
        engine, played = _turn_times(runs)
        engine_ms, played_ms = statistics.median(engine), statistics.median(played)
        print(f"per turn, median: the engine {engine_ms:.0f} ms, the eval {played_ms:.0f} ms; "
              f"Parley's overhead {played_ms - engine_ms:.0f} ms "
              f"({(played_ms - engine_ms) / engine_ms:.0%} of the engine's turn)")  # fmt: skip
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
