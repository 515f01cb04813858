"""The local LLM's speed at the caller: time to first token and tokens per second of
`manage.py localllm` (llama.cpp's server on LOCAL_LLM_MODEL, the packaged SmolLM2 by default),
called directly, optionally with busy processes beside it competing for the cores, as speech
does during a call.

    .venv/bin/python bench/local_llm.py [--threads 2] [--runs 5] [--max-tokens 64]
                                        [--wait-policy passive|active] [--hogs 0]

Each run asks the same question with a different number in it, so no run reuses the previous
prompt's cache wholesale; the first run is a warm-up and is not counted.

Still to come (issue 17): the same turns through Parley's `local` provider (the agent's
OpenAI-compatible endpoint) in the same run, for Parley's overhead as a ratio, and beside a
real voice call instead of busy loops.
"""

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _hog() -> None:
    while True:
        pass


def _turn(url: str, n: int, max_tokens: int) -> tuple[float, float, int]:
    """(seconds to the first token, tokens per second after it, tokens) of one streamed reply."""
    body = {
        "messages": [{"role": "user", "content": f"Tell me a short story about {n} cats."}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
    }
    start = time.perf_counter()
    first = 0.0
    tokens = 0
    with httpx.stream("POST", f"{url}/chat/completions", json=body, timeout=120) as reply:
        for line in reply.iter_lines():
            if not line.startswith("data: {"):
                continue
            choices = json.loads(line[6:])["choices"]
            if choices and choices[0]["delta"].get("content"):
                tokens += 1
                first = first or time.perf_counter()
    end = time.perf_counter()
    rate = (tokens - 1) / (end - first) if tokens > 1 else 0.0
    return first - start, rate, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--wait-policy", choices=["passive", "active"], default="passive")
    parser.add_argument("--hogs", type=int, default=0, help="busy processes beside it")
    args = parser.parse_args()

    port = _free_port()
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "LOCAL_LLM_THREADS": str(args.threads),
        "OMP_WAIT_POLICY": args.wait_policy.upper(),
    }
    command = [sys.executable, "manage.py", "localllm", "--port", str(port)]
    started = time.perf_counter()
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    hogs = []
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip().removeprefix("Local LLM at ")
        load = time.perf_counter() - started
        hogs = [multiprocessing.Process(target=_hog, daemon=True) for _ in range(args.hogs)]
        for hog in hogs:
            hog.start()
        _turn(url, 0, args.max_tokens)  # warm-up
        turns = [_turn(url, n, args.max_tokens) for n in range(1, args.runs + 1)]
    finally:
        for hog in hogs:
            hog.terminate()
        server.terminate()
        server.wait(timeout=30)
    ttft = sorted(t[0] * 1000 for t in turns)
    rates = [t[1] for t in turns]
    print(
        f"threads {args.threads}, OMP_WAIT_POLICY {args.wait_policy}, {args.hogs} busy "
        f"processes beside, {args.runs} runs of up to {args.max_tokens} tokens: "
        f"start {load:.2f} s; first token p50 {statistics.median(ttft):.0f} ms, "
        f"max {ttft[-1]:.0f} ms; {statistics.median(rates):.1f} tokens/s p50 "
        f"(min {min(rates):.1f}); {sum(t[2] for t in turns)} tokens in all"
    )


if __name__ == "__main__":
    main()
