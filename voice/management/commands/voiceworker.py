"""`manage.py voiceworker`: a process that holds voice and video calls (voice.worker)."""

import asyncio
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from voice.worker import Worker, _pipecat_logging, default_name


def _exit_quietly(signum: int, frame: object) -> None:
    """Stopped while the models load: nothing is registered or held yet."""
    raise SystemExit(0)


class Command(BaseCommand):
    help = "Run a voice worker: it registers itself and holds voice and video calls."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=8002, help="Port to listen on.")
        parser.add_argument(
            "--url",
            default="",
            help="Where the web processes reach this worker (default http://HOST:PORT).",
        )
        parser.add_argument(
            "--capacity",
            type=int,
            default=settings.VOICE_WORKER_CAPACITY,
            help="Calls held at once; a start beyond gets a 503 busy.",
        )
        parser.add_argument("--name", default="", help="How the dashboard names this worker.")
        parser.add_argument(
            "--no-preload", action="store_true", help="Load speech models on the first call."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        url = options["url"] or f"http://{host}:{port}"
        # Until serve() takes over Ctrl-C and SIGTERM, they end the command at once, with status 0.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _exit_quietly)
        # Before pipecat is first imported, which otherwise greets at INFO.
        _pipecat_logging()
        if not options["no_preload"]:
            from voice.offline import models_preload

            models_preload()
        worker = Worker(
            name=options["name"] or default_name(port), url=url, capacity=options["capacity"]
        )
        asyncio.run(worker.serve(host, port))
