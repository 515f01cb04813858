"""`manage.py localllm`: llama.cpp's server on the local model, the Procfile's `llm` process."""

import signal
import sys
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from localllm.selectors import LocalLLMUnavailable, model_path
from localllm.services import ServerOptions, local_llm_refusal_start, local_llm_start


def _stop_on_signal() -> threading.Event:
    """Set by Ctrl-C or honcho's SIGTERM: the command then ends with exit status 0."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def _say_why_until(stop: threading.Event, host: str, port: int, reason: str) -> None:
    """Answer on the port, with 503 and `reason`, until stopped: Parley then tells its pages and
    turns why there is no model. When the port is taken, there is nowhere to say it."""
    try:
        refusal = local_llm_refusal_start(host=host, port=port, reason=reason)
    except OSError:
        stop.wait()
        return
    try:
        stop.wait()
    finally:
        refusal.shutdown()
        refusal.server_close()


class Command(BaseCommand):
    help = "Serve the local LLM (LOCAL_LLM_MODEL) over an OpenAI-compatible API until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.LOCAL_LLM_HOST)
        parser.add_argument("--port", type=int, default=settings.LOCAL_LLM_PORT)
        parser.add_argument("--verbose", action="store_true", help="llama.cpp's own log too.")
        parser.add_argument(
            "--wait-on-error",
            action="store_true",
            help="When the model cannot be served, say why, on the port too (503, as llama.cpp "
            "while it loads), and wait to be stopped instead of exiting: under honcho (make run) "
            "one process's exit stops all the others.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stop = _stop_on_signal()
        try:
            server = local_llm_start(
                options=ServerOptions(
                    model=model_path(),
                    host=options["host"],
                    port=options["port"],
                    threads=settings.LOCAL_LLM_THREADS,
                    context=settings.LOCAL_LLM_CONTEXT,
                    parallel=settings.LOCAL_LLM_PARALLEL,
                    max_tokens=settings.LOCAL_LLM_MAX_TOKENS,
                    verbose=options["verbose"],
                )
            )
        except LocalLLMUnavailable as exc:
            if not options["wait_on_error"]:
                raise CommandError(exc.message) from None
            print(f"Local LLM not started: {exc.message}", file=sys.stderr, flush=True)
            _say_why_until(stop, options["host"], options["port"], exc.message)
            return
        if options["verbosity"]:  # `make run` says where Parley is instead (--verbosity 0)
            self.stdout.write(f"Local LLM at {server.listening_address}/v1")
            self.stdout.flush()
        stop.wait()
        del server  # llama.cpp's server stops with it
