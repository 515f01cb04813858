"""Time to first token through an agent's OpenAI-compatible endpoint, against the LLM's own.

    .venv/bin/python bench/completions.py                    # a throwaway SQLite file
    .venv/bin/python bench/completions.py --database-url postgres://user:pw@127.0.0.1:5432/postgres

The setup is bench/chat.py's: a throwaway database with a team, a webhook tool (bench/receiver.py)
and an agent on the scripted LLM (bench/llm.py, first piece after --ttft-ms), Parley under
uvicorn (config.asgi, production settings), all on 127.0.0.1. An agent key is minted
(completions.services.llm_key_create). Each request is what an engine such as Agora's sends:
POST /v1/agents/<id>/chat/completions with `stream: true`, `stream_options`, Agora's turn_id and
timestamp, and a conversation id in X-Conversation-Id (ten requests per conversation, so a tenth
of them start a session), timed from the send to the first content chunk. The baseline is the
same client sending the request Parley makes straight to the LLM, timed the same way. Pairs in
random order after a warm-up.

- **plain:** a message answered by the LLM at once.
- **one tool call:** a message that makes the LLM call the tool; Parley runs the webhook and asks
  the LLM again, so its first token comes after two LLM calls. The baseline makes the same two
  LLM calls itself (the second carrying the tool's result), without the webhook.

Goal from the issue: Parley's time to first token minus the LLM's own, p50 under 15 ms.
"""

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chat import (  # noqa: E402
    ASK_TOOL,
    CHAT,
    Fixture,
    Latencies,
    create_fixture,
    llm_direct,
    parley_uvicorn,
)
from bench.chat import SYSTEM_PROMPT as SYSTEM  # noqa: E402
from bench.harness import (  # noqa: E402
    add_database_url_argument,
    bench_script,
    exit_on_sigterm,
    throwaway_database,
)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_database_url_argument(parser)
    parser.add_argument("--requests", type=int, default=200, help="timed pairs of each kind")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--ttft-ms", type=int, default=50)
    parser.add_argument("--chunk-ms", type=int, default=5)
    return parser.parse_args()


async def _first_chunk(
    client: Any, url: str, body: dict[str, Any], headers: dict[str, str]
) -> float | None:
    """Seconds from the send to the first chunk with content; the stream is read to its end."""
    began, first = time.perf_counter(), None
    async with client.stream("POST", url, json=body, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
        async for line in response.aiter_lines():
            if first is not None or not line.startswith("data:") or "[DONE]" in line:
                continue
            for choice in json.loads(line[5:]).get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    first = time.perf_counter() - began
    return first


def _now_ms() -> int:
    return int(time.time() * 1000)


def _request(content: str) -> dict[str, Any]:
    return {
        "model": "parley",
        "messages": [
            {"role": "system", "content": "You are a voice agent.", "turn_id": 0},
            {
                "role": "user",
                "content": content,
                "turn_id": 1,
                "timestamp": int(time.time() * 1000),
            },
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def _direct(
    client: Any, llm: Any, fixture: Fixture, content: str, tool: bool
) -> float | None:
    """The LLM's own time: the request(s) Parley makes, sent straight to it."""
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "system", "content": "You are a voice agent."},
        {"role": "user", "content": content},
    ]
    body = {"model": "scripted", "messages": messages, "stream": True, "tools": fixture.functions}
    body["stream_options"] = {"include_usage": True}
    if not tool:
        first, _ = await llm_direct(client, llm, body)
        return first
    began = time.perf_counter()
    await llm_direct(client, llm, body)  # the tool call
    call = {"id": "call_0", "type": "function"}
    call["function"] = {"name": "lookup_order", "arguments": '{"order_id": "A-1042"}'}
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_0", "content": '{"status": "shipped"}'},
    ]
    second_began = time.perf_counter()
    first, _ = await llm_direct(client, llm, body | {"messages": messages})
    return None if first is None else (second_began - began) + first


async def _measure(server: Any, llm: Any, fixture: Fixture, secret: str, args: Any) -> dict:
    import httpx

    url = server.url(f"/v1/agents/{fixture.agent_id}/chat/completions")
    results = {kind: (Latencies(), Latencies()) for kind in ("plain", "tool")}
    run_id = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(timeout=30) as client:
        for number in range(args.warmup + args.requests):
            for kind, content in (("plain", CHAT), ("tool", ASK_TOOL)):
                # Ten requests per conversation, as turns of one call would be.
                headers = {
                    "Authorization": f"Bearer {secret}",
                    "X-Conversation-Id": f"{kind}-{number // 10}-{run_id}",
                }
                parley, own = results[kind]
                runs = [
                    (
                        "parley",
                        lambda c=content, h=headers: _first_chunk(client, url, _request(c), h),
                    ),
                    (
                        "own",
                        lambda c=content, k=kind: _direct(client, llm, fixture, c, k == "tool"),
                    ),
                ]
                random.shuffle(runs)
                for who, run in runs:
                    seconds = await run()
                    if number >= args.warmup and seconds is not None:
                        (parley if who == "parley" else own).seconds.append(seconds)
    return results


def _report(results: dict, args: Any) -> None:
    for kind, (parley, own) in results.items():
        name = "plain" if kind == "plain" else "one tool call"
        p50 = parley.percentile_ms(0.5) - own.percentile_ms(0.5)
        p99 = parley.percentile_ms(0.99) - own.percentile_ms(0.99)
        print(
            f"{name}: Parley p50 {parley.percentile_ms(0.5):.1f} ms, p99 "
            f"{parley.percentile_ms(0.99):.1f} ms; the LLM alone p50 {own.percentile_ms(0.5):.1f}"
            f" ms, p99 {own.percentile_ms(0.99):.1f} ms; Parley's own time p50 {p50:.1f} ms, "
            f"p99 {p99:.1f} ms ({len(parley.seconds)} requests); ratio p50 "
            f"{parley.percentile_ms(0.5) / own.percentile_ms(0.5):.2f}x",
            flush=True,
        )
    plain, own = results["plain"]
    overhead = plain.percentile_ms(0.5) - own.percentile_ms(0.5)
    verdict = "met" if overhead < 15 else "not met"
    print(f"goal: Parley's own time to first token p50 under 15 ms: {verdict} ({overhead:.1f} ms)")


def _run(args: argparse.Namespace, workdir: Path) -> None:
    from django.db import connections

    from agents.models import Agent
    from completions.services import llm_key_create

    with ExitStack() as stack:
        timing = ["--ttft-ms", str(args.ttft_ms), "--chunk-ms", str(args.chunk_ms)]
        llm = stack.enter_context(bench_script("llm.py", *timing))
        receiver = stack.enter_context(bench_script("receiver.py"))
        fixture = create_fixture(llm, receiver)
        _, secret = llm_key_create(agent=Agent.objects.get(pk=fixture.agent_id), name="bench")
        connections.close_all()
        server = stack.enter_context(parley_uvicorn(workdir / "uvicorn.log"))
        print(
            f"bench/completions.py: {args.requests} pairs of each kind after {args.warmup}; "
            f"the LLM's first piece after {args.ttft_ms} ms",
            flush=True,
        )
        _report(asyncio.run(_measure(server, llm, fixture, secret, args)), args)


def main() -> int:
    args = _parse_args()
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="parley-bench-")))
        os.environ["DATABASE_URL"] = stack.enter_context(
            throwaway_database(args.database_url, workdir)
        )
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
        import django

        django.setup()
        _run(args, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
