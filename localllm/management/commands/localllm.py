"""`manage.py localllm`: llama.cpp's server on the local model, the Procfile's `llm` process."""

import signal
import sys
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from localllm.selectors import LocalLLMUnavailable, model_path
from localllm.services import ServerOptions, local_llm_start


def _stop_on_signal() -> threading.Event:
    """Set by Ctrl-C or honcho's SIGTERM: the command then ends with exit status 0."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


class Command(BaseCommand):
    help = "Serve the local LLM (LOCAL_LLM_MODEL) over an OpenAI-compatible API until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.LOCAL_LLM_HOST)
        parser.add_argument("--port", type=int, default=settings.LOCAL_LLM_PORT)
        parser.add_argument("--verbose", action="store_true", help="llama.cpp's own log too.")
        parser.add_argument(
            "--wait-on-error",
            action="store_true",
            help="When the model cannot be served, say why and wait to be stopped instead of "
            "exiting: under honcho (make run) one process's exit stops all the others.",
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
                    verbose=options["verbose"],
                )
            )
        except LocalLLMUnavailable as exc:
            if not options["wait_on_error"]:
                raise CommandError(exc.message) from None
            print(f"Local LLM not started: {exc.message}", file=sys.stderr, flush=True)
            stop.wait()
            return
        self.stdout.write(f"Local LLM at {server.listening_address}/v1")
        self.stdout.flush()
        stop.wait()
        del server  # llama.cpp's server stops with it
