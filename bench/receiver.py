"""A webhook receiver for bench/tools.py: a small HTTP/1.1 server on 127.0.0.1, keep-alive,
any number of requests at once (one asyncio task per connection, nothing else in its process).

    POST /hook   answers {"ok": true, ...} at once
    POST /slow   answers the same after sleeping 100 ms

    .venv/bin/python bench/receiver.py [--port 0]

It prints the port it listens on as its first line, then serves until it is terminated.
"""

import argparse
import asyncio
import contextlib
import json
import signal

SLOW_SECONDS = 0.1
REPLY = json.dumps({"ok": True, "order": {"id": "A-1042", "status": "shipped"}}).encode()
MAX_HEAD_BYTES = 64 * 1024


def _response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _request(reader: asyncio.StreamReader) -> tuple[str, str] | None:
    """The method and path of the next request on the connection, its body read and dropped;
    None when the client closed the connection."""
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
    if length:
        await reader.readexactly(length)
    return method, path


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while request := await _request(reader):
            method, path = request
            if method == "POST" and path in ("/hook", "/slow"):
                if path == "/slow":
                    await asyncio.sleep(SLOW_SECONDS)
                writer.write(_response("200 OK", REPLY))
            else:
                writer.write(_response("404 Not Found", b'{"error": "not found"}'))
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _main(port: int) -> None:
    server = await asyncio.start_server(
        _serve, "127.0.0.1", port, backlog=1024, limit=MAX_HEAD_BYTES
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
    asyncio.run(_main(parser.parse_args().port))
