"""A scripted LLM for bench/chat.py: an OpenAI-compatible chat-completions server on 127.0.0.1
that streams its replies as server-sent events, one asyncio task per connection (keep-alive,
chunked), so that many streams at once cost it little.

    POST /v1/chat/completions   (stream: true) a reply, after --ttft-ms
    GET  /stats                 {"requests", "tool_calls"}: what it has answered so far

    .venv/bin/python bench/llm.py [--port 0] [--ttft-ms 50] [--chunk-ms 5]

The reply depends on the request's last message: from the user, with tools offered and the word
"tool" in its text, one call of the first tool offered (its arguments in pieces, finish_reason
"tool_calls"); a tool's result, a sentence about it; anything else, a sentence. The first piece
comes --ttft-ms after the request was read, the others --chunk-ms apart; then a usage chunk and
`data: [DONE]`, as OpenAI streams them. It prints the port it listens on as its first line, then
serves until it is terminated.
"""

import argparse
import asyncio
import contextlib
import json
import signal
from typing import Any

PATH = "/v1/chat/completions"
MAX_HEAD_BYTES = 64 * 1024
ANSWER = "Thanks for your message. I am a scripted model, so this is what I always say."
ABOUT_RESULT = "Order A-1042 has shipped and should arrive on Friday."
ARGUMENTS = json.dumps({"order_id": "A-1042", "include_items": False})


class Counts:
    requests = 0
    tool_calls = 0


def _words(text: str) -> list[str]:
    """The text in pieces of a word each, as a model's tokens come."""
    words = text.split(" ")
    return [words[0], *(" " + word for word in words[1:])]


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _text_chunks(text: str) -> list[dict[str, Any]]:
    pieces = _words(text)
    first = _chunk({"role": "assistant", "content": pieces[0]})
    return [first, *(_chunk({"content": piece}) for piece in pieces[1:]), _chunk({}, "stop")]


def _tool_call_chunks(name: str) -> list[dict[str, Any]]:
    third = len(ARGUMENTS) // 3
    pieces = [ARGUMENTS[:third], ARGUMENTS[third : 2 * third], ARGUMENTS[2 * third :]]
    function = {"name": name, "arguments": ""}
    head = {"index": 0, "id": f"call_{Counts.tool_calls}", "type": "function", "function": function}
    chunks = [_chunk({"role": "assistant", "content": None, "tool_calls": [head]})]
    chunks += [
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}) for piece in pieces
    ]
    return [*chunks, _chunk({}, "tool_calls")]


def _reply(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunks that answer this request, the usage chunk last."""
    messages = body.get("messages") or [{}]
    last, tools = messages[-1], body.get("tools") or []
    if last.get("role") == "tool":
        chunks = _text_chunks(ABOUT_RESULT)
    elif last.get("role") == "user" and tools and "tool" in str(last.get("content")).lower():
        Counts.tool_calls += 1
        chunks = _tool_call_chunks(tools[0]["function"]["name"])
    else:
        chunks = _text_chunks(ANSWER)
    prompt = sum(len(str(m.get("content") or "")) for m in messages) // 4
    usage = {"prompt_tokens": prompt, "completion_tokens": len(chunks) - 1}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return [
        *chunks,
        {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "choices": [], "usage": usage},
    ]


def _piece(data: bytes) -> bytes:
    """One piece of a chunked body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _stream(
    writer: asyncio.StreamWriter, body: dict[str, Any], timing: argparse.Namespace
) -> None:
    head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    writer.write(f"{head}transfer-encoding: chunked\r\n\r\n".encode())
    await writer.drain()
    await asyncio.sleep(timing.ttft_ms / 1000)
    for index, chunk in enumerate(_reply(body)):
        if index and timing.chunk_ms:
            await asyncio.sleep(timing.chunk_ms / 1000)
        writer.write(_piece(f"data: {json.dumps(chunk)}\n\n".encode()))
        await writer.drain()
    writer.write(_piece(b"data: [DONE]\n\n") + b"0\r\n\r\n")


def _answer(status: str, payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload).encode()
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}"
    return f"{head}\r\n\r\n".encode() + body


async def _request(reader: asyncio.StreamReader) -> tuple[str, str, bytes] | None:
    """The method, path and body of the next request; None when the client closed."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return method, path, await reader.readexactly(length) if length else b""


async def _respond(
    writer: asyncio.StreamWriter, request: tuple[str, str, bytes], timing: argparse.Namespace
) -> None:
    method, path, raw = request
    if method == "GET" and path == "/stats":
        writer.write(
            _answer("200 OK", {"requests": Counts.requests, "tool_calls": Counts.tool_calls})
        )
        return
    if method != "POST" or path != PATH:
        writer.write(_answer("404 Not Found", {"error": {"message": f"no {method} {path}"}}))
        return
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict) or not body.get("stream"):
        writer.write(_answer("400 Bad Request", {"error": {"message": "send stream: true"}}))
        return
    Counts.requests += 1
    await _stream(writer, body, timing)


async def _serve(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timing: argparse.Namespace
) -> None:
    try:
        while request := await _request(reader):
            await _respond(writer, request, timing)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _main(args: argparse.Namespace) -> None:
    server = await asyncio.start_server(
        lambda r, w: _serve(r, w, args), "127.0.0.1", args.port, backlog=1024, limit=MAX_HEAD_BYTES
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--ttft-ms", type=float, default=50, help="time to the first piece")
    parser.add_argument("--chunk-ms", type=float, default=5, help="time between pieces")
    asyncio.run(_main(parser.parse_args()))
