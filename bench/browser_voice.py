"""Voice to voice at a browser caller: Chromium calls the agent from its hosted page.

    .venv/bin/python bench/browser_voice.py [--ttft-ms 100] [--chunk-ms 15] [--gap 9]

bench/voice.py's caller is a Python WebRTC peer, whose jitter buffer holds a fixed 80 ms. Here
the caller is what a visitor uses: Debian's Chromium (driven by Playwright) opens Parley's hosted
page (/meet/<agent>, the <live-avatar> widget, served by uvicorn with the production settings)
and starts a voice call, held by a voice worker in its own process (the offline models). Its
fake microphone plays a file made at run time: one uncounted question to warm the call, then the
12 complete questions of bench/voice.py's turn set (Piper and, every other one, espeak-ng),
each followed by --gap seconds of silence for the reply. The scripted LLM answers each with
bench/voice.py's 19-word sentence (first word after --ttft-ms, then one every --chunk-ms).

The page hears both sides on one clock: the microphone's track (as the widget sends it, after
Chromium's own echo cancelling and noise suppression) and the agent's track (after Chromium's
jitter buffer and decoder) go into one Web Audio graph, whose 256-sample blocks (5.3 ms) are
kept with their time and loudness. Voice to voice is the end of each question (its last loud
block) to the reply's first loud block, less --ttft-ms. Chromium's own statistics (getStats:
the jitter buffer's mean delay and target, the samples it concealed) say what its jitter buffer
held. Parley (bench/voice.py's settings: `mode: semantic`, longest silence 1000 ms, the first
piece spoken sooner) and the baseline (Parley as it was before issue 21: 480 ms of silence,
whole sentences to Piper) run in one invocation, each on a fresh worker and a fresh browser.
"""

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
import wave
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.chat import parley_uvicorn  # noqa: E402
from bench.harness import exit_on_sigterm, throwaway_database  # noqa: E402
from bench.voice import (  # noqa: E402
    AIORTC_JITTER,
    BASELINE_TURNS,
    BEFORE,
    MANAGE,
    Voices,
    bench_agent,
    clear_events,
    complete_turns,
    percentile,
    recorded_stages,
    scripted_reply,
    semantic_turns,
    voice_worker,
    worker_environment,
)
from bench.widget import CHROMIUM  # noqa: E402

RATE = 48000
LEAD_IN = 8.0  # s of silence first: the call connects meanwhile, however loaded the machine
WARM_UP = "Hello, can you hear me?"

# Runs in the page before its own scripts: keeps the call's RTCPeerConnection, and sends the
# microphone's track and the agent's into one Web Audio graph. Of each block of it (2048
# samples), the page keeps when each side's first and last sound (a sample above 0.01 of full
# scale) played, on the context's clock (s), or null where that side was quiet throughout.
LISTENER = """
(() => {
  const connections = [];
  const Native = window.RTCPeerConnection;
  function Kept(...args) {
    const pc = new Native(...args);
    connections.push(pc);
    return pc;
  }
  Kept.prototype = Native.prototype;
  window.RTCPeerConnection = Kept;
  window.benchConnections = connections;
  window.benchBlocks = [];
  const media = navigator.mediaDevices;
  const open = media.getUserMedia.bind(media);
  media.getUserMedia = async (constraints) => {
    const microphone = await open(constraints);
    const context = new AudioContext({ sampleRate: 48000 });
    const both = context.createChannelMerger(2);
    context.createMediaStreamSource(microphone).connect(both, 0, 0);
    const blocks = context.createScriptProcessor(2048, 2, 1);
    blocks.onaudioprocess = (event) => {
      const kept = [event.playbackTime];
      for (const channel of [0, 1]) {
        const samples = event.inputBuffer.getChannelData(channel);
        let first = -1, last = -1;
        for (let i = 0; i < samples.length; i++) {
          if (Math.abs(samples[i]) > 0.01) {
            if (first < 0) first = i;
            last = i;
          }
        }
        kept.push(first < 0 ? null : event.playbackTime + first / context.sampleRate);
        kept.push(last < 0 ? null : event.playbackTime + (last + 1) / context.sampleRate);
      }
      window.benchBlocks.push(kept);
    };
    both.connect(blocks);
    blocks.connect(context.destination);
    const agent = setInterval(() => {
      const receiver = connections[0] && connections[0].getReceivers().find(
        (r) => r.track && r.track.kind === "audio");
      if (!receiver) return;
      clearInterval(agent);
      context.createMediaStreamSource(new MediaStream([receiver.track])).connect(both, 0, 1);
    }, 20);
    return microphone;
  };
})();
"""

HEARD_FOR = """() => {
  const blocks = window.benchBlocks;
  return blocks.length ? blocks[blocks.length - 1][0] - blocks[0][0] : 0;
}"""

STATISTICS = """async () => {
  const kept = [];
  (await window.benchConnections[0].getStats()).forEach((report) => {
    if (report.type === "inbound-rtp" && report.kind === "audio") kept.push(report);
  });
  return kept[0] || null;
}"""


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ttft-ms", type=int, default=100, help="the scripted LLM's first token")
    parser.add_argument("--chunk-ms", type=int, default=15, help="ms between the reply's words")
    parser.add_argument("--gap", type=float, default=9.0, help="s of silence after a question")
    parser.add_argument("--questions", type=int, default=12, help="how many complete questions")
    return parser.parse_args()


@dataclass(frozen=True)
class Microphone:
    """The file Chromium's fake microphone plays, and each question's length in it (s)."""

    path: Path
    lengths: list[float]


def _microphone(workdir: Path, questions: int, gap: float) -> Microphone:
    import numpy as np

    voices = Voices()
    clips = [voices.say(WARM_UP), *(said.pcm for said in complete_turns(voices)[:questions])]
    silence = np.zeros(int(RATE * gap), dtype=np.int16)
    parts = [np.zeros(int(RATE * LEAD_IN), dtype=np.int16)]
    for clip in clips:
        parts += [clip, silence]
    path = workdir / "microphone.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(np.concatenate(parts).tobytes())
    return Microphone(path, [len(clip) / RATE for clip in clips])


@dataclass
class Heard:
    latencies: list[float]  # s from each counted question's end to the reply's first sound
    premature: int  # replies heard before the question had ended
    unanswered: int
    jitter_buffer: dict[str, float]


Block = list[float | None]  # its time, then the microphone's and the agent's sound: first, last


def _questions(blocks: list[Block], count: int) -> list[tuple[float, float]]:
    """(start, end) of each stretch of the microphone's sound, apart by more than 1.5 s."""
    stretches: list[list[float]] = []
    for _, first, last, _, _ in blocks:
        if first is None or last is None:
            continue
        if stretches and first - stretches[-1][1] < 1.5:
            stretches[-1][1] = last
        else:
            stretches.append([first, last])
    if len(stretches) != count:
        raise RuntimeError(f"the page heard {len(stretches)} questions, not {count}")
    return [(start, end) for start, end in stretches]


def _heard(blocks: list[Block], questions: int, stats: dict[str, Any] | None) -> Heard:
    heard = Heard([], 0, 0, _jitter_buffer(stats))
    agent = [(first, last) for *_, first, last in blocks if first is not None and last is not None]
    for number, (start, end) in enumerate(_questions(blocks, questions)):
        if number == 0:
            continue  # the warm-up
        if any(first < end and last > start for first, last in agent):
            heard.premature += 1
        elif (after := next((first for first, _ in agent if first >= end), None)) is None:
            heard.unanswered += 1
        else:
            heard.latencies.append(after - end)
    return heard


def _jitter_buffer(stats: dict[str, Any] | None) -> dict[str, float]:
    """Chromium's jitter buffer over the call: mean delay and target (ms), samples concealed."""
    if not stats or not stats.get("jitterBufferEmittedCount"):
        return {}
    emitted = stats["jitterBufferEmittedCount"]
    return {
        "delay_ms": 1000 * stats["jitterBufferDelay"] / emitted,
        "target_ms": 1000 * stats.get("jitterBufferTargetDelay", 0) / emitted,
        "concealed_ms": 1000 * stats.get("concealedSamples", 0) / RATE,
        "received_s": stats.get("totalSamplesReceived", 0) / RATE,
    }


@contextmanager
def _chromium(microphone: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    flags += [f"--use-file-for-fake-audio-capture={microphone}%noloop"]
    flags += ["--autoplay-policy=no-user-gesture-required"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
        try:
            yield browser
        finally:
            browser.close()


def _call(parley: str, agent: str, microphone: Microphone, gap: float) -> tuple[list[Block], Any]:
    """One call from the hosted page, as long as the microphone's file plays."""
    with _chromium(microphone.path) as browser:
        print(f"Chromium {browser.version}", flush=True)
        context = browser.new_context(base_url=parley)
        context.add_init_script(LISTENER)
        page = context.new_page()
        response = page.goto(f"/meet/{agent}")
        if response is None or response.status != 200:
            raise RuntimeError(f"the hosted page answered {response and response.status}")
        page.get_by_role("button", name="Voice call").click()
        page.get_by_role("button", name="Start call").click()
        playing = LEAD_IN + sum(microphone.lengths) + len(microphone.lengths) * gap
        deadline = time.monotonic() + playing + 60  # the call connects within the lead-in
        while page.evaluate(HEARD_FOR) < playing:  # a function: the page's CSP allows no eval
            if time.monotonic() > deadline:
                raise RuntimeError("the page's Web Audio did not run as long as the microphone")
            page.wait_for_timeout(500)
        blocks, stats = page.evaluate("() => window.benchBlocks"), page.evaluate(STATISTICS)
        page.get_by_role("button", name="Hang up").click()
        return blocks, stats


def _report(label: str, heard: Heard, ttft_ms: int) -> float:
    ms = [1000 * s - ttft_ms for s in heard.latencies]
    p50 = statistics.median(ms) if ms else float("nan")
    p95 = percentile(ms, 95) if ms else float("nan")
    stages = recorded_stages()
    worker = ", ".join(
        f"{key} {statistics.median(values):.0f}" for key, values in stages.items() if values
    )
    jb = heard.jitter_buffer
    buffered = (
        f"Chromium's jitter buffer {jb['delay_ms']:.0f} ms mean (target {jb['target_ms']:.0f}), "
        f"{jb['concealed_ms']:.0f} ms concealed of {jb['received_s']:.0f} s"
        if jb
        else "no jitter buffer statistics"
    )
    print(
        f"{label}: voice to voice in Chromium, {len(ms)} complete questions, excluding the LLM's "
        f"{ttft_ms} ms: p50 {p50:.0f} ms, p95 {p95:.0f} ms; premature {heard.premature}, "
        f"unanswered {heard.unanswered}; {buffered}; the worker's stages p50 (every turn): "
        f"{worker}",
        flush=True,
    )
    return p50


def _run(args: argparse.Namespace, env: dict[str, str], workdir: Path) -> None:
    microphone = _microphone(workdir, args.questions, args.gap)
    with ExitStack() as stack:
        reply_port = stack.enter_context(scripted_reply(args.ttft_ms, args.chunk_ms))
        server = stack.enter_context(parley_uvicorn(workdir / "uvicorn.log"))
        parley = f"http://localhost:{server.port}"
        parley_label = "Parley (semantic, longest silence 1000 ms, first piece sooner)"
        baseline_label = "baseline (silence 480 ms, whole sentences)"
        runs = [
            (parley_label, semantic_turns(), env, MANAGE),
            (baseline_label, BASELINE_TURNS, env | AIORTC_JITTER, BEFORE),
        ]
        print(
            f"bench/browser_voice.py: {args.questions} complete questions (Piper and espeak-ng) "
            f"after one uncounted, from Chromium's fake microphone on the hosted page; reply "
            f"19 words, scripted LLM first token after {args.ttft_ms} ms then a word every "
            f"{args.chunk_ms} ms",
            flush=True,
        )
        p50s = []
        for label, turn_detection, worker_env, program in runs:
            clear_events()
            agent = bench_agent(reply_port, turn_detection=turn_detection)
            with voice_worker(worker_env, capacity=1, program=program):
                blocks, stats = _call(parley, agent, microphone, args.gap)
            heard = _heard(blocks, len(microphone.lengths), stats)
            p50s.append(_report(label, heard, args.ttft_ms))
        print(f"ratio (baseline / Parley): p50 {p50s[1] / p50s[0]:.2f}x", flush=True)


def main() -> int:
    args = _parse_args()
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="parley-bench-")))
        env = worker_environment(stack.enter_context(throwaway_database("", workdir)))
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)  # as `make run` does
        _run(args, env, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
