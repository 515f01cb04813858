"""`make run`'s process manager (config/run.py), on real processes from a Procfile: what the
terminal shows, how the processes are stopped, and the exit status after Ctrl-C."""

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from config.run import announce_when_ready
from tests.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]

SCRIPTS = {
    # Listens on READY_PORT; SIGTERM ends it cleanly.
    "server.py": """
        import os, signal, socket, sys
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        listener = socket.create_server(("127.0.0.1", int(os.environ["READY_PORT"])))
        print("server up", flush=True)
        signal.pause()
    """,
    # Holds a child in its own process group, as Celery's worker holds its pool, and stops it
    # itself on SIGTERM, after a moment in which a SIGTERM sent to the group would have reached it.
    "parent.py": """
        import signal, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "child.py"])
        def stop(*_):
            time.sleep(0.5)
            child.kill()
            child.wait()
            print("parent stopped its child", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        signal.pause()
    """,
    "child.py": """
        import signal, sys
        def stop(*_):
            print("child got SIGTERM", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        signal.pause()
    """,
    # Ends by the SIGTERM itself, as uvicorn does once it has shut down.
    "plain.py": """
        import signal
        signal.pause()
    """,
    # Takes longer to stop than honcho's 5 s, as Celery's worker on the file broker may.
    "slow.py": """
        import signal, sys, time
        def stop(*_):
            time.sleep(6)
            print("slow stopped", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        signal.pause()
    """,
    "crash.py": """
        import sys, time
        time.sleep(0.5)
        print("giving up", flush=True)
        sys.exit(3)
    """,
    "stubborn.py": """
        import signal, sys
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
        signal.pause()
    """,
}
HONCHO_CHATTER = ("started (pid", "sending SIG", "received")


def _start(tmp_path: Path, procfile: dict[str, str], port: int) -> subprocess.Popen[str]:
    for name, source in SCRIPTS.items():
        (tmp_path / name).write_text(textwrap.dedent(source))
    lines = [f"{name}: exec {sys.executable} {script}" for name, script in procfile.items()]
    (tmp_path / "Procfile").write_text("\n".join(lines) + "\n")
    command = [sys.executable, "-m", "config.run", "--ready", f"127.0.0.1:{port}"]
    return subprocess.Popen(
        [*command, "--banner", "Parley is running"],
        cwd=tmp_path,
        env=os.environ | {"PYTHONPATH": str(ROOT), "READY_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _until_banner(manager: subprocess.Popen[str]) -> list[str]:
    assert manager.stdout is not None
    seen = []
    for line in manager.stdout:
        seen.append(line.rstrip("\n"))
        if seen[-1] == "Parley is running":
            return seen
    raise AssertionError(f"no banner: {seen}")


def _said(lines: list[str], process: str, text: str) -> bool:
    """Whether `process` printed `text`, as honcho's printer shows it: `HH:MM:SS name | text`."""
    return any(re.search(rf" {re.escape(process)} +\| {re.escape(text)}$", line) for line in lines)


def _finish(manager: subprocess.Popen[str]) -> tuple[int, list[str]]:
    # A safety net for a loaded machine: the slowest process takes 6 s to stop by itself.
    out, _ = manager.communicate(timeout=90)
    return manager.returncode, out.splitlines()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_every_process_by_itself_and_exits_0_quietly(tmp_path, stop) -> None:
    processes = {"server": "server.py", "parent": "parent.py", "plain": "plain.py"}
    manager = _start(tmp_path, processes, free_port())
    before = _until_banner(manager)
    manager.send_signal(stop)
    status, after = _finish(manager)

    assert status == 0
    assert _said(before, "server.1", "server up")
    # The parent stopped its child; no signal went past it to the child.
    assert _said(after, "parent.1", "parent stopped its child")
    assert not any("child got SIGTERM" in line for line in after)
    assert not [line for line in before + after if any(c in line for c in HONCHO_CHATTER)]
    assert not [line for line in after if "stopped (rc=" in line]


def test_a_slow_stop_is_waited_for(tmp_path) -> None:
    manager = _start(tmp_path, {"server": "server.py", "slow": "slow.py"}, free_port())
    _until_banner(manager)
    manager.send_signal(signal.SIGINT)
    status, lines = _finish(manager)

    assert status == 0
    assert _said(lines, "slow.1", "slow stopped")


def test_a_process_that_ends_by_itself_stops_the_rest_and_is_named(tmp_path) -> None:
    manager = _start(tmp_path, {"server": "server.py", "crash": "crash.py"}, free_port())
    status, lines = _finish(manager)

    assert status == 3
    assert _said(lines, "crash.1", "giving up")
    assert _said(lines, "system", "crash.1 stopped (rc=3)")
    # The server was stopped as asked, cleanly: not worth a line.
    assert not any("server.1 stopped" in line for line in lines)


def test_a_process_that_does_not_stop_cleanly_is_named_and_fails_the_exit(tmp_path) -> None:
    manager = _start(tmp_path, {"server": "server.py", "stubborn": "stubborn.py"}, free_port())
    _until_banner(manager)
    manager.send_signal(signal.SIGINT)
    status, lines = _finish(manager)

    assert status == 1
    assert _said(lines, "system", "stubborn.1 stopped (rc=1)")
    assert not any("server.1 stopped" in line for line in lines)


class _Announcements:
    def __init__(self) -> None:
        self.made: list[tuple[str, float]] = []

    def announce(self, text: str) -> None:
        self.made.append((text, time.monotonic()))


def test_the_banner_waits_for_the_address_to_answer() -> None:
    port = free_port()
    listening_at = []

    def listen_late() -> None:
        time.sleep(0.6)
        listening_at.append(time.monotonic())
        with socket.create_server(("127.0.0.1", port)):
            time.sleep(1)

    threading.Thread(target=listen_late).start()
    announcements = _Announcements()
    announce_when_ready(announcements, [f"127.0.0.1:{port}"], "up", timeout=10)  # type: ignore[arg-type]

    [(text, at)] = announcements.made
    assert text == "up"
    assert at >= listening_at[0]


def test_the_banner_is_shown_anyway_when_an_address_never_answers() -> None:
    announcements = _Announcements()
    started = time.monotonic()
    announce_when_ready(announcements, [f"127.0.0.1:{free_port()}"], "up", timeout=0.5)  # type: ignore[arg-type]

    [(text, at)] = announcements.made
    assert text == "up"
    assert 0.5 <= at - started < 2
