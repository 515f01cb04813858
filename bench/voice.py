"""Voice-to-voice latency of Parley's calls, offline, and how many calls one worker carries.

    .venv/bin/python bench/voice.py [--turns 20] [--ttft-ms 100] [--max-calls 4] [--llm local]

A voice worker runs as its own process (`manage.py voiceworker`, the production settings, on a
throwaway SQLite database) with the offline models from their packages (Whisper tiny.en,
Piper en_US-joe-medium); the LLM is bench/llm.py, whose first token comes --ttft-ms after each
request; with --llm local, the local model instead (`manage.py localllm`, the packaged SmolLM2,
an agent on the `local` provider as bench/local_llm.py makes it, asked its questions). This
process starts calls through Parley's API (in-process, Django's test client) and plays the
caller: a Python WebRTC peer (aiortc) speaks questions synthesized by Piper and times, at the
peer, the end of its speech → the first sound of the reply. Turns are spaced out; each waits for
the reply to finish.

- **Latency:** --turns turns in one call, p50 and p95, with the parts each turn recorded on the
  session's timeline (turn detection = silence wait + transcription, STT, LLM, TTS). "Excluding
  the LLM" subtracts --ttft-ms (with --llm local, the first token's p50 that the turns recorded).
  The baseline is the same call with pipecat's own Whisper and Piper services (a model loaded per
  call, Whisper's default beam search): VOICE_SHARED_MODELS=false.
- **Concurrency:** 1 … --max-calls calls at once on one worker, each speaking its turns at
  random moments; the p50 at each count, and the most calls with p50 under 1 s.
- **Memory:** the worker's resident memory once its models are loaded, and with each count of
  calls running: per worker and per call.

The peers share the machine (and its 2 cores) with the worker, as a browser on the same host
would. Goals from the issue: p50 ≤ 600 ms and p95 ≤ 1 s excluding the LLM's own time.
"""

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.api import _free_port, _throwaway_database  # noqa: E402
from bench.chat import _script, _stopped_at_exit  # noqa: E402

QUESTIONS = [
    "What is the weather in Paris?",
    "Can you book a table for two tonight?",
    "How long does shipping take?",
    "What time do you open tomorrow?",
]


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=20, help="turns in the latency call")
    parser.add_argument("--ttft-ms", type=int, default=100, help="the scripted LLM's first token")
    parser.add_argument("--max-calls", type=int, default=4, help="most calls at once")
    parser.add_argument("--turns-each", type=int, default=6, help="turns per concurrent call")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--llm",
        choices=["scripted", "local"],
        default="scripted",
        help="bench/llm.py, or the local model (manage.py localllm)",
    )
    return parser.parse_args()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def _worker(env: dict[str, str], capacity: int) -> Iterator[tuple[int, subprocess.Popen[Any]]]:
    port = _free_port()
    command = [sys.executable, "manage.py", "voiceworker", "--port", str(port)]
    command += ["--capacity", str(capacity), "--name", f"bench-{port}"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    with _stopped_at_exit(process):
        from voice.models import VoiceWorker

        deadline = time.monotonic() + 60
        while not VoiceWorker.objects.filter(name=f"bench-{port}", stopped_at=None).exists():
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the voice worker did not start")
            time.sleep(0.2)
        yield port, process


def _agent(llm_port: int) -> str:
    from agents.configuration import AgentConfiguration
    from agents.models import Agent
    from teams.models import Team

    team = Team.objects.create(name=f"Bench {random.random()}")
    document = AgentConfiguration.model_validate(
        {
            "llm": {
                "custom_url": f"http://127.0.0.1:{llm_port}/v1",
                "model": "scripted",
                "first_message": "",
            },
            "idle_timeout_seconds": 600,
        }
    ).as_document()
    agent = Agent.objects.create(
        team=team, name="Voice bench", publish_status="public", configuration=document
    )
    return str(agent.pk)


async def _connect(agent_id: str) -> tuple[Any, str]:
    from django.test import Client

    from tests.voice.conftest import send_offer, start_call
    from tests.voice.peer import Peer

    response = await asyncio.to_thread(
        lambda: start_call(Client(SERVER_NAME="127.0.0.1"), agent_id)
    )
    if response.status_code != 200:
        raise RuntimeError(f"the call did not start: {response.content!r}")
    started = response.json()
    peer = Peer()
    offer = await peer.offer()
    client = Client(SERVER_NAME="127.0.0.1")
    answer = await asyncio.to_thread(lambda: send_offer(client, started, offer).json())
    await peer.answer(answer)
    while peer.pc.connectionState != "connected":
        await asyncio.sleep(0.05)
    return peer, started["sessionId"]


async def _turn(peer: Any, pcm: Any) -> float | None:
    """Speak; seconds from the end of the speech to the reply's first sound; wait it out."""
    spoken = peer.mic.say(pcm)
    deadline = spoken + 15
    while (first := peer.heard.first_sound_after(spoken)) is None:
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.02)
    while (last := peer.heard.last_sound()) is None or time.monotonic() - last < 1.0:
        await asyncio.sleep(0.05)
    return first - spoken


async def _call(agent_id: str, speech: list[Any], turns: int, jitter: float) -> list[float]:
    peer, _ = await _connect(agent_id)
    await asyncio.sleep(1 + random.random() * jitter)
    latencies = []
    for number in range(turns):
        latency = await _turn(peer, speech[number % len(speech)])
        if latency is not None:
            latencies.append(latency)
        await asyncio.sleep(0.5 + random.random() * jitter)
    await peer.close()
    return latencies


def _parts(session_ids: list[str] | None = None) -> dict[str, list[int]]:
    from sessions.models import EventKind, SessionEvent

    parts: dict[str, list[int]] = {}
    for data in SessionEvent.objects.filter(kind=EventKind.MESSAGE).values_list("data", flat=True):
        if isinstance(data, dict) and "latency_ms" in data:
            for key in ("latency_ms", "turn_detection_ms", "stt_ms", "llm_ms", "tts_ms", "held_ms"):
                if key in data:
                    parts.setdefault(key, []).append(int(data[key]))
    return parts


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _clear_events() -> None:
    from sessions.models import SessionEvent

    SessionEvent.objects.all().delete()


def _recorded_ttft_ms() -> float:
    """The p50 of the first token's time that the turns recorded on the timeline."""
    from sessions.models import EventKind, SessionEvent

    said = SessionEvent.objects.filter(kind=EventKind.MESSAGE).values_list("data", flat=True)
    ttft = [data["ttft_ms"] for data in said if isinstance(data, dict) and "ttft_ms" in data]
    return statistics.median(ttft) if ttft else float("nan")


def _latency_run(label: str, env: dict[str, str], agent: str, speech: list[Any], args: Any) -> dict:
    _clear_events()
    with _worker(env, capacity=1) as (_, process):
        loaded = _rss_mb(process.pid)
        latencies = asyncio.run(_call(agent, speech, args.turns, jitter=0.3))
    parts = _parts()
    llm_ms = args.ttft_ms if args.llm == "scripted" else _recorded_ttft_ms()
    ms = [x * 1000 for x in latencies]
    result: dict[str, Any] = {
        "label": label,
        "turns": len(ms),
        "p50": statistics.median(ms),
        "p95": _pct(ms, 95),
        "rss": loaded,
        "parts": {k: statistics.median(v) for k, v in parts.items()},
    }
    print(
        f"{label}: {len(ms)} turns, p50 {result['p50']:.0f} ms, p95 {result['p95']:.0f} ms "
        f"(excluding the LLM's {llm_ms:.0f} ms: p50 {result['p50'] - llm_ms:.0f}, "
        f"p95 {result['p95'] - llm_ms:.0f}); parts p50: "
        + ", ".join(f"{k} {v:.0f}" for k, v in result["parts"].items())
        + f"; worker RSS {loaded:.0f} MB",
        flush=True,
    )
    return result


async def _many(agent: str, speech: list[Any], calls: int, turns: int, pid: int) -> tuple:
    peak = [0.0]

    async def watch() -> None:
        while True:
            peak[0] = max(peak[0], _rss_mb(pid))
            await asyncio.sleep(0.5)

    watcher = asyncio.ensure_future(watch())
    results = await asyncio.gather(*(_call(agent, speech, turns, 2.0) for _ in range(calls)))
    watcher.cancel()
    return [x for r in results for x in r], peak[0]


def _concurrency(env: dict[str, str], agent: str, speech: list[Any], args: Any) -> list[dict]:
    rows = []
    with _worker(env, capacity=args.max_calls) as (_, process):
        idle = _rss_mb(process.pid)
        print(f"worker RSS with models loaded, no call: {idle:.0f} MB", flush=True)
        for calls in range(1, args.max_calls + 1):
            latencies, peak = asyncio.run(_many(agent, speech, calls, args.turns_each, process.pid))
            ms = [x * 1000 for x in latencies]
            row = {
                "calls": calls,
                "turns": len(ms),
                "p50": statistics.median(ms) if ms else float("nan"),
                "p95": _pct(ms, 95) if ms else float("nan"),
                "rss": peak,
                "per_call": (peak - idle) / calls,
            }
            rows.append(row)
            print(
                f"{calls} calls at once: {len(ms)} turns, p50 {row['p50']:.0f} ms, "
                f"p95 {row['p95']:.0f} ms; worker RSS peak {peak:.0f} MB "
                f"(+{row['per_call']:.0f} MB per call)",
                flush=True,
            )
    carried = max((r["calls"] for r in rows if r["p50"] < 1000), default=0)
    print(f"calls one worker carries with p50 under 1 s: {carried}", flush=True)
    return rows


def main() -> int:
    args = _parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="parley-voice-bench-"))
    with ExitStack() as stack:
        env = os.environ | {
            "DATABASE_URL": stack.enter_context(_throwaway_database("", workdir)),
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
            "VOICE_HEARTBEAT_SECONDS": "2",
        }
        if args.llm == "local":
            from bench.local_llm import local_llm_server

            env["LOCAL_LLM_URL"] = stack.enter_context(local_llm_server())
            llm_said = "the local LLM (manage.py localllm)"
        else:
            llm = stack.enter_context(_script("llm.py", "--ttft-ms", str(args.ttft_ms)))
            llm_said = f"scripted LLM first token after {args.ttft_ms} ms"
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        from tests.voice.peer import speech as synthesize

        call_command("migrate", verbosity=0)
        if args.llm == "local":
            from bench.local_llm import CALL_QUESTIONS, local_agent

            agent, questions = local_agent("Voice bench"), CALL_QUESTIONS
        else:
            agent, questions = _agent(llm.port), QUESTIONS
        speech = [synthesize(q) for q in questions]
        print(
            f"bench/voice.py: {args.turns} turns, {llm_said}, offline Whisper tiny.en and Piper "
            "en_US-joe-medium",
            flush=True,
        )
        label = "Parley (shared models, short-window Whisper, early answer)"
        parley = _latency_run(label, env, agent, speech, args)
        if not args.skip_baseline:
            stock = env | {"VOICE_SHARED_MODELS": "false"}
            baseline = _latency_run("pipecat's own services (baseline)", stock, agent, speech, args)
            print(
                f"ratio (baseline / Parley): p50 {baseline['p50'] / parley['p50']:.2f}x, "
                f"p95 {baseline['p95'] / parley['p95']:.2f}x",
                flush=True,
            )
        _concurrency(env, agent, speech, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
