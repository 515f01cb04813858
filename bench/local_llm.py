"""The local LLM's speed at the caller, through Parley and without it, alone and beside a voice
call, and voice-to-voice with it: everything on this machine, no scripted server.

    .venv/bin/python bench/local_llm.py [--threads 2] [--pairs 20] [--warmup 2] [--turns 10]
                                        [--wait-policy passive|active]

`manage.py localllm` serves the packaged SmolLM2 (or LOCAL_LLM_MODEL) on --threads threads, as
the Procfile's `llm` process; Parley runs under uvicorn (config.asgi, production settings, a
throwaway SQLite database) as `make run` starts it, with a public agent on the `local` provider
(temperature 0, a system prompt asking for one short sentence, as SmolLM2 otherwise may write
until its context is full: Parley sends no max_tokens).

- **Chat, through Parley against llama.cpp directly:** --pairs pairs after --warmup, each pair
  in random order: the question streamed through the agent's OpenAI-compatible endpoint
  (POST /v1/agents/<id>/chat/completions, the agent's key), and the request Parley makes (its
  system prompt, the question, temperature, stream_options) sent straight to llama.cpp. Timed
  at the caller: from the send to the first token, and tokens per second after it. llama.cpp
  keeps the prompts it has read (a question asked again is answered without reading it), so
  each request asks the same question with a number of its own: both sides read all of it but
  the system prompt.
- **The same beside a voice call:** a voice worker (`manage.py voiceworker`, Whisper tiny.en and
  Piper from their packages) holds a call with an agent on the same local model, while a Python
  WebRTC peer (bench/voice.py's) speaks Piper-made questions into it, one after another, for as
  long as the pairs take.
- **Voice-to-voice with the local LLM:** then one call alone, --turns turns, timed at the peer
  from the end of its speech to the first sound of the reply (bench/voice.py's measure), with
  the parts the session's timeline records.

It ends with a markdown table and the command that made it.
"""

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chat import SERVER_ENVIRONMENT, parley_uvicorn  # noqa: E402
from bench.harness import (  # noqa: E402
    exit_on_sigterm,
    free_port,
    stopped_at_exit,
    throwaway_database,
)
from bench.voice import (  # noqa: E402
    clear_events,
    connect,
    latency_call,
    percentile,
    recorded_stages,
    timed_turn,
    voice_worker,
)

BRIEF = "You are a helpful assistant. Answer in one short sentence."
# Its answers are 40 to 100 tokens at temperature 0; the number comes early, so that the
# question shares no more than the system prompt with the one before it.
QUESTION = "I have {n} bikes. Why is the sky blue?"
# Spoken into calls: each answered in one sentence (8 to 25 tokens) at temperature 0.
CALL_QUESTIONS = [
    "What is the capital of France?",
    "Where is the Eiffel Tower?",
    "What is a bicycle?",
    "How do I fix a flat tyre?",
]


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="LOCAL_LLM_THREADS")
    parser.add_argument("--pairs", type=int, default=20, help="timed pairs in each part")
    parser.add_argument("--warmup", type=int, default=2, help="untimed pairs before them")
    parser.add_argument("--turns", type=int, default=10, help="turns of the timed voice call")
    parser.add_argument("--wait-policy", choices=["passive", "active"], default="passive")
    args = parser.parse_args()
    if args.pairs < 2 or args.warmup < 0 or args.turns < 2:
        parser.error("need --pairs >= 2, --warmup >= 0 and --turns >= 2")
    return args


@contextmanager
def local_llm_server(threads: int = 2, wait_policy: str = "passive") -> Iterator[str]:
    """`manage.py localllm` on a free port of 127.0.0.1: its /v1 address."""
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "LOCAL_LLM_THREADS": str(threads),
        "OMP_WAIT_POLICY": wait_policy.upper(),
    }
    command = [sys.executable, "manage.py", "localllm", "--port", str(free_port())]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    with stopped_at_exit(server):
        assert server.stdout is not None
        line = server.stdout.readline().strip()
        if not line.startswith("Local LLM at "):
            raise RuntimeError(f"manage.py localllm did not start (exit status {server.poll()})")
        yield line.removeprefix("Local LLM at ")


def local_agent(name: str) -> str:
    """A public agent on the `local` provider, in a team of its own: its id."""
    from activity.services import SYSTEM
    from agents.configuration import AgentConfiguration
    from agents.services import agent_create
    from teams.models import Team

    suffix = secrets.token_hex(4)
    team = Team.objects.create(name=f"{name} {suffix}", slug=f"bench-{suffix}")
    llm = {"provider": "local", "model": "local", "system_prompt": BRIEF, "temperature": 0}
    configuration = AgentConfiguration.model_validate(
        {"llm": llm | {"first_message": ""}, "idle_timeout_seconds": 600}
    )
    agent = agent_create(
        team=team, actor=SYSTEM, name=name, configuration=configuration, publish_status="public"
    )
    return str(agent.pk)


# The chat part: streamed replies, timed at the caller.


@dataclass(frozen=True)
class Timed:
    ttft: float  # seconds from the send to the first token
    rate: float  # tokens per second after the first
    tokens: int


@dataclass
class Side:
    turns: list[Timed] = field(default_factory=list)

    def ttft_ms(self, p: float) -> float:
        return percentile([t.ttft * 1000 for t in self.turns], p)

    def rate(self, p: float) -> float:
        return percentile([t.rate for t in self.turns], p)


def _streamed(client: httpx.Client, url: str, body: dict[str, Any], **headers: str) -> Timed:
    """One streamed chat completion, read to its end: each chunk with text is a token."""
    start = time.perf_counter()
    first, tokens = 0.0, 0
    with client.stream("POST", url, json=body, headers=headers) as reply:
        if reply.status_code != 200:
            reply.read()
            raise RuntimeError(f"{url}: HTTP {reply.status_code}: {reply.text[:300]}")
        for line in reply.iter_lines():
            if not line.startswith("data: {"):
                continue
            choices = json.loads(line[6:]).get("choices") or []
            if choices and (choices[0].get("delta") or {}).get("content"):
                tokens += 1
                first = first or time.perf_counter()
    end = time.perf_counter()
    if not tokens:
        raise RuntimeError(f"{url}: a reply without text")
    rate = (tokens - 1) / (end - first) if tokens > 1 else 0.0
    return Timed(first - start, rate, tokens)


def _direct(client: httpx.Client, llm: str, question: str) -> Timed:
    """The request Parley makes for the question, sent straight to llama.cpp."""
    said = [{"role": "system", "content": BRIEF}, {"role": "user", "content": question}]
    body = {"model": "local", "messages": said, "stream": True, "temperature": 0}
    body["stream_options"] = {"include_usage": True}
    return _streamed(client, f"{llm}/chat/completions", body)


def _through_parley(
    client: httpx.Client, parley: str, agent: str, key: str, question: str
) -> Timed:
    """The question to the agent's OpenAI-compatible endpoint, as an engine asks it."""
    said = [{"role": "user", "content": question}]
    return _streamed(
        client,
        f"{parley}/v1/agents/{agent}/chat/completions",
        {"model": "local", "messages": said, "stream": True},
        Authorization=f"Bearer {key}",
    )


def _pairs(parley: str, llm: str, agent: str, key: str, args: Any, first: int) -> dict:
    """{"parley": Side, "llama.cpp": Side}: in each pair, both sides in random order.

    llama.cpp keeps the prompts it has read, so that a question asked again is answered
    without reading it: each request has a number of its own, and neither side answers a
    prompt the other has read (both reuse the system prompt)."""
    sides = {"parley": Side(), "llama.cpp": Side()}
    numbers = iter(range(first, first + 2 * (args.warmup + args.pairs)))
    with httpx.Client(timeout=300) as client:
        for pair in range(args.warmup + args.pairs):
            runs = [
                ("parley", lambda q: _through_parley(client, parley, agent, key, q)),
                ("llama.cpp", lambda q: _direct(client, llm, q)),
            ]
            random.shuffle(runs)
            for who, run in runs:
                timed = run(QUESTION.format(n=next(numbers)))
                if pair >= args.warmup:
                    sides[who].turns.append(timed)
    return sides


# The voice part: bench/voice.py's caller.


async def _call_until(
    agent: str, speech: list[Any], connected: threading.Event, stop: threading.Event
) -> list[float]:
    """A call whose caller asks one question after another until `stop`: the latencies."""
    peer, _ = await connect(agent)
    connected.set()
    latencies = []
    number = 0
    while not stop.is_set():
        latency = await timed_turn(peer, speech[number % len(speech)])
        if latency is not None:
            latencies.append(latency)
        number += 1
        await asyncio.sleep(0.5)
    await peer.close()
    return latencies


@contextmanager
def _call_beside(agent: str, speech: list[Any]) -> Iterator[list[float]]:
    """A voice call in a thread of its own for as long as the block runs: its latencies."""
    connected, stop, latencies = threading.Event(), threading.Event(), []

    def hold() -> None:
        try:
            latencies.extend(asyncio.run(_call_until(agent, speech, connected, stop)))
        finally:
            connected.set()  # also when the call failed: the block goes on, and says so

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        connected.wait()
        if not thread.is_alive():
            raise RuntimeError("the voice call beside did not start")
        yield latencies
    finally:
        stop.set()
        thread.join(120)


def _voice_alone(agent: str, speech: list[Any], turns: int) -> tuple[list[float], dict]:
    """One call, `turns` turns: the latencies at the peer, and the timeline's parts (p50)."""
    from sessions.models import EventKind, SessionEvent

    clear_events()
    latencies = asyncio.run(latency_call(agent, speech, turns, jitter=0.3))
    parts = {key: statistics.median(values) for key, values in recorded_stages().items()}
    said = SessionEvent.objects.filter(kind=EventKind.MESSAGE).values_list("data", flat=True)
    ttft = [d["ttft_ms"] for d in said if isinstance(d, dict) and "ttft_ms" in d]
    failed = sum(1 for d in said if isinstance(d, dict) and d.get("failure"))
    if ttft:
        parts["ttft_ms"] = statistics.median(ttft)
    if failed:
        print(f"warning: {failed} turns answered with the failure message", flush=True)
    return latencies, parts


# The report.


def _chat_rows(label: str, sides: dict[str, Side]) -> list[str]:
    parley, direct = sides["parley"], sides["llama.cpp"]
    rows = []
    for who, side in (("llama.cpp directly", direct), ("through Parley", parley)):
        tokens = statistics.median(t.tokens for t in side.turns)
        rows.append(
            f"| {label} | {who} | {side.ttft_ms(50):.0f} ({side.ttft_ms(95):.0f}) | "
            f"{side.rate(50):.1f} ({side.rate(5):.1f}) | {tokens:.0f} |"
        )
    extra = parley.ttft_ms(50) - direct.ttft_ms(50)
    ratio = parley.ttft_ms(50) / direct.ttft_ms(50)
    rates = parley.rate(50) / direct.rate(50)
    rows.append(f"| {label} | Parley's overhead | {extra:+.0f} ms, {ratio:.2f}x | {rates:.2f}x | |")
    return rows


def _voice_row(label: str, seconds: list[float]) -> str:
    ms = [x * 1000 for x in seconds]
    if not ms:
        return f"| {label} | 0 | | |"
    return f"| {label} | {len(ms)} | {percentile(ms, 50):.0f} ms | {percentile(ms, 95):.0f} ms |"


def _report(alone: dict, beside: dict, beside_call: list[float], voice: tuple) -> None:
    latencies, parts = voice
    print()
    print("| part | path | first token p50 (p95), ms | tokens/s p50 (p5) | tokens p50 |")
    print("|---|---|---|---|---|")
    for row in _chat_rows("chat alone", alone) + _chat_rows("chat beside a call", beside):
        print(row)
    print()
    print("| voice call on the local LLM | turns | voice-to-voice p50 | p95 |")
    print("|---|---|---|---|")
    print(_voice_row("beside the chat pairs", beside_call))
    print(_voice_row("alone", latencies))
    print()
    said = ", ".join(f"{key} {value:.0f}" for key, value in parts.items())
    print(f"the call alone, its turns' parts p50 (ms): {said}")
    print()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the end (1, 5, 15 min): {load} on {os.cpu_count()} cores")
    print("made by: " + " ".join([".venv/bin/python", "bench/local_llm.py", *sys.argv[1:]]))


def _run(args: argparse.Namespace, env: dict[str, str], stack: ExitStack, workdir: Path) -> None:
    from django.core.management import call_command
    from django.db import connections

    from agents.models import Agent
    from completions.services import llm_key_create
    from tests.voice.peer import speech as synthesize

    call_command("migrate", verbosity=0)
    chat = local_agent("Local chat bench")
    _, key = llm_key_create(agent=Agent.objects.get(pk=chat), name="bench")
    caller = local_agent("Local call bench")
    connections.close_all()
    parley = stack.enter_context(parley_uvicorn(workdir / "uvicorn.log")).url("")
    llm = env["LOCAL_LLM_URL"]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"bench/local_llm.py: threads {args.threads}, OMP_WAIT_POLICY {args.wait_policy}, "
        f"{args.pairs} pairs after {args.warmup}, {args.turns} voice turns; load average "
        f"(1, 5, 15 min) {load} on {os.cpu_count()} cores",
        flush=True,
    )
    alone = _pairs(parley, llm, chat, key, args, first=100)
    print("chat alone: done", flush=True)
    speech = [synthesize(q) for q in CALL_QUESTIONS]
    with voice_worker(env, capacity=2):
        with _call_beside(caller, speech) as beside_calls:
            beside = _pairs(parley, llm, chat, key, args, first=500)
        print(f"chat beside a call: done ({len(beside_calls)} call turns)", flush=True)
        voice = _voice_alone(caller, speech, args.turns)
    _report(alone, beside, beside_calls, voice)


def main() -> int:
    args = _parse_args()
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="parley-bench-")))
        url = stack.enter_context(local_llm_server(args.threads, args.wait_policy))
        env = (
            os.environ
            | SERVER_ENVIRONMENT
            | {
                "DATABASE_URL": stack.enter_context(throwaway_database("", workdir)),
                "LOCAL_LLM_URL": url,
                "LOG_LEVEL": "WARNING",  # not each ICE check of each call, at INFO
                "VOICE_HEARTBEAT_SECONDS": "2",
            }
        )
        os.environ.update(env)
        import django

        django.setup()
        _run(args, env, stack, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
