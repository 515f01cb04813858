"""`make run`'s process manager: the Procfile's processes under honcho, in a quiet terminal.

    python -m config.run [--ready HOST:PORT ...] [--banner TEXT]

`honcho start` tells of every process it starts and stops, and exits 130 after Ctrl-C, which make
reports as an error. Here the terminal shows what the processes print (at LOG_LEVEL, WARNING under
`make run`), the banner once every --ready address answers, and any process that stopped on its
own or uncleanly. Ctrl-C or SIGTERM stops them all; the exit status is 0 when each one did so
cleanly. The Procfile's `.env` and PORT are read as `honcho start` reads them.
"""

import argparse
import contextlib
import datetime
import os
import re
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from honcho import environ
from honcho.manager import Manager
from honcho.printer import Message, Printer

# The banner waits this long at most for the --ready addresses: a process that is not up by then
# has said why above it (the web server itself answers within seconds, the others within 10).
READY_TIMEOUT_SECONDS = 30.0
# How long the processes may take to stop once asked, before what is left is killed (honcho gives
# 5 s): Celery's worker on the file broker needs up to 7, as it looks for the stop every 2 s and
# then stops its pool.
STOP_TIMEOUT_SECONDS = 15.0
# Asked to stop, a process stopped cleanly when it exits 0 or by that SIGTERM itself (uvicorn
# raises it again once it has shut down).
CLEAN_STOPS = (0, -signal.SIGTERM)
# honcho's own lines, as Manager writes them.
_ASKED = re.compile(r"^SIG(INT|TERM) received")
_STOPPED = re.compile(r"^\S+ stopped \(rc=(?P<rc>-?\d+)\)")


class _Terminal(Printer):
    """honcho's printer; a line with no process name is the manager's own, printed bare."""

    def write(self, message: Message) -> None:
        if message.name is None:
            print(message.data, file=self.output, flush=True)
        else:
            super().write(message)


class _Signals:
    """Stops each process with a SIGTERM to it alone, where honcho signals its whole group: then
    Celery's worker and gunicorn stop their own pool and workers, instead of seeing them killed
    and logging errors. SIGKILL, for what is left after STOP_TIMEOUT_SECONDS, takes the group."""

    def terminate(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)

    def kill(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


class QuietManager(Manager):
    """honcho's Manager, silent about starts, and about the stops it asked for when they went
    cleanly."""

    def __init__(self, printer: Printer) -> None:
        super().__init__(printer)
        self._procmgr = _Signals()
        self.asked_to_stop = False
        self._stopping_since = 0.0

    def _system_print(self, data: str) -> None:
        if _ASKED.match(data):
            self.asked_to_stop = True
        elif (stopped := _STOPPED.match(data)) and not (
            self._terminating and int(stopped["rc"]) in CLEAN_STOPS
        ):
            super()._system_print(data)

    def terminate(self) -> None:
        if not self._terminating:
            self._stopping_since = time.monotonic()
        super().terminate()

    def kill(self) -> None:
        if time.monotonic() - self._stopping_since >= STOP_TIMEOUT_SECONDS:
            super().kill()

    def announce(self, text: str) -> None:
        """Print `text` between the processes' lines, unless everything is stopping."""
        if not self._terminating:
            self.events.put(Message("line", text, datetime.datetime.now(), None, None))

    def exit_status(self) -> int:
        """0 after Ctrl-C or SIGTERM if every process stopped cleanly; else honcho's own: the
        status of the process that stopped first."""
        codes = [process.get("returncode") for process in self._processes.values()]
        if self.asked_to_stop:
            return 0 if all(code in CLEAN_STOPS for code in codes) else 1
        return self.returncode or 0


def _answers(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def announce_when_ready(
    manager: QuietManager, addresses: list[str], text: str, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(addresses)
    while waiting and time.monotonic() < deadline:
        waiting = [address for address in waiting if not _answers(address)]
        if waiting:
            time.sleep(0.2)
    manager.announce(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start the Procfile's processes together.")
    parser.add_argument(
        "--ready",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="An address that answers once its process is up; the banner waits for each.",
    )
    parser.add_argument("--banner", default="", help="Printed once the --ready addresses answer.")
    parser.add_argument("--procfile", default="Procfile", type=Path)
    args = parser.parse_args(argv)

    procfile = environ.parse_procfile(args.procfile.read_text())
    dotenv = Path(".env")
    env = environ.parse(dotenv.read_text()) if dotenv.is_file() else {}
    port = int(env.get("PORT") or os.environ.get("PORT") or 5000)
    manager = QuietManager(_Terminal(sys.stdout))
    for process in environ.expand_processes(procfile.processes, env=env, port=port):
        manager.add_process(process.name, process.cmd, env=os.environ | process.env)
    if args.banner:
        threading.Thread(
            target=announce_when_ready,
            args=(manager, args.ready, args.banner, READY_TIMEOUT_SECONDS),
            daemon=True,
        ).start()
    manager.loop()
    return manager.exit_status()


if __name__ == "__main__":
    sys.exit(main())
