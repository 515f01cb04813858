"""Time the <live-avatar> widget in a real browser, against the same requests made without it.

    .venv/bin/python bench/widget.py                    # a throwaway SQLite file
    .venv/bin/python bench/widget.py --database-url postgres://user:pw@127.0.0.1:5432/postgres

Parley runs under uvicorn (config.asgi, production settings, one process) with the agent and the
scripted LLM of bench/chat.py (bench/llm.py: first piece after --ttft-ms, then one every
--chunk-ms). The host page comes from a second origin (a static server on another port of
127.0.0.1) and loads the widget's script from Parley, as an embedding site does. Debian's
Chromium, driven by Playwright, does each round in that page, timed there with performance.now():

- **Click to first message shown:** a new floating <live-avatar> is put in the page, its bubble
  clicked, and the clock stops when the agent's first message is in the widget's shadow DOM. The
  baseline is the page's own fetch() of the same start endpoint with the same body, to its JSON.
- **Send to first token shown:** a message is typed and Enter pressed; the clock stops when the
  reply's first text is in the shadow DOM. The baseline is the page's own fetch() of the same
  messages URL (same session, same headers), read until the first `token` event.

Widget and baseline alternate in each round, in random order, after --warmup rounds. Also
reported: the script's size, gzipped size and the bytes the browser transferred for it. Goals from
the issue: first message under 300 ms on loopback, the script under 60 KB gzipped.
"""

import argparse
import gzip
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.chat import create_fixture, parley_uvicorn  # noqa: E402
from bench.harness import (  # noqa: E402
    add_database_url_argument,
    bench_script,
    exit_on_sigterm,
    throwaway_database,
)

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
SCRIPT = ROOT / "static" / "widget" / "live-avatar.js"
HOST_PAGE = "<!doctype html><meta charset=utf-8><title>Host</title><h1>A shop</h1>{script}\n"

# Each function runs in the host page and resolves to milliseconds.
WIDGET_FIRST_MESSAGE = """async ({agent, endpoint}) => {
  const widget = document.createElement("live-avatar");
  widget.setAttribute("agentid", agent);
  widget.setAttribute("data-endpoint", endpoint);
  document.body.append(widget);
  const root = widget.shadowRoot;
  const shown = new Promise((resolve, reject) => {
    widget.addEventListener("error", (e) => reject(new Error(e.detail.message)));
    window.benchObserver = new MutationObserver((changes, observer) => {
      if (!root.querySelector(".msg.assistant")) return;
      observer.disconnect();
      resolve(performance.now());
    });
    window.benchObserver.observe(root, {childList: true, subtree: true});
  });
  const began = performance.now();
  root.querySelector(".bubble").click();
  return (await shown) - began;
}"""
WIDGET_REPLY = """({content}) => {
  const widget = document.querySelector("live-avatar");
  const root = widget.shadowRoot;
  const before = root.querySelectorAll(".msg.assistant").length;
  window.benchShown = undefined;
  window.benchDone = false;
  widget.addEventListener("message", (e) => {
    if (e.detail.role === "assistant") window.benchDone = true;
  }, {once: false});
  window.benchObserver = new MutationObserver(() => {
    const replies = root.querySelectorAll(".msg.assistant");
    const last = replies[replies.length - 1];
    if (replies.length > before && last.lastChild.textContent.length > 0) {
      window.benchObserver.disconnect();
      window.benchShown = performance.now();
    }
  });
  window.benchObserver.observe(root, {childList: true, subtree: true, characterData: true});
  const input = root.querySelector("textarea");
  input.value = content;
  window.benchBegan = performance.now();
  input.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", bubbles: true}));
}"""
FETCH_START = """async ({agent, endpoint}) => {
  const began = performance.now();
  const response = await fetch(endpoint, {method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({agentId: agent, mode: "chat"})});
  const started = await response.json();
  const took = performance.now() - began;
  window.benchSession = started;
  return took;
}"""
FETCH_REPLY = """async ({content}) => {
  const session = window.benchSession;
  const began = performance.now();
  const response = await fetch(session.messagesUrl, {method: "POST", headers: {
    "Content-Type": "application/json", "Accept": "text/event-stream",
    "Authorization": "Bearer " + session.sessionToken}, body: JSON.stringify({content})});
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let seen = "", took = null;
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    seen += decoder.decode(value, {stream: true});
    if (took === null && seen.includes("event: token")) took = performance.now() - began;
  }
  return took;
}"""


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_database_url_argument(parser)
    parser.add_argument("--rounds", type=int, default=60, help="timed rounds of each kind")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured rounds first")
    parser.add_argument("--ttft-ms", type=float, default=50, help="the LLM's time to first token")
    parser.add_argument("--chunk-ms", type=float, default=5, help="the LLM's time between pieces")
    return parser.parse_args()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextmanager
def _host(script_url: str) -> Iterator[str]:
    """The embedding site: one static page on its own origin."""
    root = Path(tempfile.mkdtemp(prefix="parley-bench-host-"))
    (root / "index.html").write_text(
        HOST_PAGE.format(script=f'<script src="{script_url}"></script>')
    )
    handler = partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        shutil.rmtree(root)


def _first_token(page: Any, side: str, content: str) -> float:
    if side == "fetch":
        return float(page.evaluate(FETCH_REPLY, {"content": content}))
    page.evaluate(WIDGET_REPLY, {"content": content})
    page.wait_for_function("window.benchShown !== undefined && window.benchDone")
    return float(page.evaluate("window.benchShown - window.benchBegan"))


def _rounds(
    page: Any, args: argparse.Namespace, agent: str, endpoint: str
) -> dict[str, list[float]]:
    """Each round: the widget and the bare requests, in random order."""
    times: dict[str, list[float]] = {key: [] for key in ("widget", "fetch", "widget_t", "fetch_t")}
    for round_ in range(args.warmup + args.rounds):
        took: dict[str, float] = {}
        sides = ["widget", "fetch"]
        random.shuffle(sides)
        # The last round's widget ends its session as it leaves the page: not while timing.
        page.evaluate("document.querySelectorAll('live-avatar').forEach((old) => old.remove())")
        page.wait_for_timeout(300)
        for side in sides:
            start = WIDGET_FIRST_MESSAGE if side == "widget" else FETCH_START
            took[side] = page.evaluate(start, {"agent": agent, "endpoint": endpoint})
            took[side + "_t"] = _first_token(page, side, f"Hello, round {round_}.")
        if round_ >= args.warmup:
            for key, value in took.items():
                times[key].append(value)
    return times


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _report(times: dict[str, list[float]], transferred: int) -> bool:
    raw = SCRIPT.read_bytes()
    packed = len(gzip.compress(raw, 9))
    rows = [
        ("click to first message shown", "widget", "fetch"),
        ("send to first token shown", "widget_t", "fetch_t"),
    ]
    print(
        "| in the browser | p50 ms | p95 ms | bare requests p50 ms | widget's own p50 ms | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, widget, bare in rows:
        w, b = statistics.median(times[widget]), statistics.median(times[bare])
        p95 = _p(times[widget], 95)
        print(f"| {name} | {w:.1f} | {p95:.1f} | {b:.1f} | {w - b:+.1f} | {w / b:.2f} |")
    print(
        f"\nthe script: {len(raw) / 1024:.1f} KiB, {packed / 1024:.1f} KiB gzipped, "
        f"{transferred / 1024:.1f} KiB transferred to the browser"
    )
    first = statistics.median(times["widget"])
    verdicts = [
        f"first message shown p50 {first:.1f} ms (goal < 300 ms): "
        f"{'met' if first < 300 else 'MISSED'}",
        f"script gzipped {packed / 1024:.1f} KiB (goal < 60 KB): "
        f"{'met' if packed < 60_000 else 'MISSED'}",
    ]
    print("", *verdicts, sep="\n")
    return first < 300 and packed < 60_000


def _run(args: argparse.Namespace, workdir: Path) -> bool:
    from django.db import connections
    from playwright.sync_api import sync_playwright

    with ExitStack() as stack:
        timing = ["--ttft-ms", str(args.ttft_ms), "--chunk-ms", str(args.chunk_ms)]
        llm = stack.enter_context(bench_script("llm.py", *timing))
        receiver = stack.enter_context(bench_script("receiver.py"))
        fixture = create_fixture(llm, receiver)
        connections.close_all()
        server = stack.enter_context(parley_uvicorn(workdir / "uvicorn.log"))
        parley = f"http://localhost:{server.port}"  # not the host page's origin
        host = stack.enter_context(_host(f"{parley}/widget/live-avatar.js"))
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        stack.callback(browser.close)
        page = browser.new_page()
        with page.expect_response(lambda r: r.url.endswith("/widget/live-avatar.js")) as script:
            page.goto(host)
        page.wait_for_function("customElements.get('live-avatar') !== undefined")
        sizes = script.value.request.sizes()
        transferred = sizes["responseBodySize"] + sizes["responseHeadersSize"]
        endpoint = f"{parley}/v1/start-agent-session"
        times = _rounds(page, args, fixture.agent_id, endpoint)
        print(
            f"uvicorn (config.asgi), {browser.version}; the LLM's first piece after "
            f"{args.ttft_ms:g} ms; {args.rounds} rounds of each after {args.warmup}\n"
        )
        return _report(times, transferred)


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
        from django.db import connections

        django.setup()
        stack.callback(connections.close_all)
        ok = _run(args, workdir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
