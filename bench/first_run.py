"""What a newcomer waits for: from `make run` in a fresh clone to the demo agent's first answer.

    python bench/first_run.py [--pip-cache warm|cold] [--repo PATH] [--timeout 900]

Any Python 3.11 runs it, as a newcomer has one before `make`: it needs nothing else.

The repository's committed HEAD (--repo, this checkout by default) is cloned into a throwaway
folder, with `shared` beside it as the checkout has it, and `make run` starts there on four free
ports (PORT, ASGI_PORT, VOICE_PORT, LOCAL_LLM_PORT). `--pip-cache cold` gives pip an empty
PIP_CACHE_DIR; `warm` leaves pip its usual cache (run once to warm it).

Each phase ends when a newcomer could see it has: clone; venv (.venv/bin/pip exists); install
(.venv/.installed); css (static/build/app.css); migrate and demo (the web server's process has
started: gunicorn in make's session or below it); processes up (the web, async, voice and LLM
ports all answer); first token. For that last one, the demo team's published agent on the local
LLM is looked up with `manage.py shell` once everything is up, as a person would then look for it
in the dashboard (and, if there is none yet, a throwaway public agent on `local` is made the same
way, which the output says); that lookup is not counted. The phase is the time from the start of a
chat session (POST /v1/start-agent-session) to the first `token` event of the reply to "Hello",
sent to its messagesUrl with Accept: text/event-stream.

`make run` then gets SIGINT, as Ctrl-C sends it; whatever is left of it, in the clone's folder,
is killed, whether the run got that far or failed. The exit status is 1 if a phase did not end.
"""

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.client import HTTPResponse
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import free_port  # noqa: E402

# Prints the id of the demo team's first published agent on the local LLM; where there is none,
# makes a throwaway public one on `local` and says so on a second line.
FIND_AGENT = """
import sys
from activity.services import SYSTEM
from agents.configuration import AgentConfiguration
from agents.models import Agent
from agents.services import agent_create
from teams.models import Membership

membership = Membership.objects.filter(user__email="demo@parley.local").first()
if membership is None:
    sys.exit("no demo team")
published = Agent.objects.filter(team=membership.team, publish_status__in=["public", "private"])
local = [
    agent for agent in published.order_by("created_at")
    if agent.configuration.get("llm", {}).get("provider") == "local"
]
if local:
    print(local[0].pk)
else:
    llm = {"provider": "local", "model": "local"}
    configuration = AgentConfiguration.model_validate({"llm": llm})
    agent = agent_create(
        team=membership.team, actor=SYSTEM, name="First-run bench", configuration=configuration,
        publish_status="public",
    )
    print(agent.pk)
    print("made")
"""


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _processes() -> list[tuple[int, int, str, str]]:
    """(pid, session id, command line, working folder) of every process we may look at."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            session = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            folder = os.readlink(entry / "cwd")
        except (OSError, IndexError, ValueError):
            continue
        found.append((int(entry.name), session, command, folder))
    return found


def _web_started(clone: Path) -> bool:
    """The web server's process exists: the Procfile's processes have been started."""
    return any(
        "gunicorn" in command and folder == str(clone) for _, _, command, folder in _processes()
    )


def _stop(make: subprocess.Popen[bytes], clone: Path) -> None:
    """Ctrl-C, as a person would; then kill whatever of the run is still in the clone."""
    if make.poll() is None:
        os.killpg(make.pid, signal.SIGINT)
        try:
            make.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
    for pid, _, _, folder in _processes():
        if folder == str(clone) or folder.startswith(f"{clone}/"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _post(url: str, body: dict[str, str], headers: dict[str, str]) -> HTTPResponse:
    request = Request(  # noqa: S310 - the run's own addresses
        url, data=json.dumps(body).encode(), method="POST", headers=headers
    )
    try:
        return urlopen(request, timeout=120)  # noqa: S310
    except HTTPError as exc:
        raise RuntimeError(f"{url}: {exc.code} {exc.read().decode(errors='replace')}") from None


def _first_token(web: int, agent_id: str) -> float:
    """Seconds from the session's start to the first `token` event of the reply to "Hello"."""
    start = time.monotonic()
    json_headers = {"Content-Type": "application/json"}
    body = {"agentId": agent_id, "mode": "chat"}
    with _post(f"http://127.0.0.1:{web}/v1/start-agent-session", body, json_headers) as answer:
        started = json.load(answer)
    headers = json_headers | {
        "Authorization": f"Bearer {started['sessionToken']}",
        "Accept": "text/event-stream",
    }
    with _post(started["messagesUrl"], {"content": "Hello"}, headers) as reply:
        for line in reply:
            if line.rstrip() == b"event: token":
                return time.monotonic() - start
            if line.rstrip() == b"event: error":
                raise RuntimeError(f"the reply failed: {reply.readline().decode().strip()}")
    raise RuntimeError("the reply ended without a token")


class Run:
    """One `make run` in a fresh clone, and when each phase of it ended."""

    def __init__(self, folder: Path, repo: Path, cold: bool) -> None:
        self.folder = folder
        self.repo = repo
        self.clone = folder / "parley"
        self.cold = cold
        self.ports = {
            name: free_port() for name in ("PORT", "ASGI_PORT", "VOICE_PORT", "LOCAL_LLM_PORT")
        }
        self.start = time.monotonic()
        self.ended: dict[str, float] = {}
        self.notes: list[str] = []
        self.output = bytearray()

    def _phase(self, name: str, done: Callable[[], bool], make: subprocess.Popen[bytes]) -> None:
        while not done():
            if make.poll() is not None:
                raise RuntimeError(f"make run ended ({make.returncode}) before: {name}")
            if time.monotonic() - self.start > self.timeout:
                raise RuntimeError(f"timed out before: {name}")
            time.sleep(0.1)
        self.ended[name] = time.monotonic()

    def _read(self, make: subprocess.Popen[bytes]) -> None:
        assert make.stdout is not None
        for line in make.stdout:
            self.output += line

    def _agent(self) -> str:
        python = self.clone / ".venv" / "bin" / "python"
        found = subprocess.run(
            [python, "manage.py", "shell", "--verbosity=0", "-c", FIND_AGENT],
            cwd=self.clone,
            capture_output=True,
            text=True,
            check=False,
        )
        said = found.stdout.split()
        if not said:
            raise RuntimeError(f"no agent found or made: {found.stderr.strip()[-500:]}")
        if said[1:] == ["made"]:
            self.notes.append(
                "the demo team has no published agent on the local LLM: "
                "a throwaway public one was made on `local`"
            )
        return said[0]

    def go(self, timeout: float) -> None:
        self.timeout = timeout
        shared = self.repo.parent / "shared"
        if shared.exists():
            (self.folder / "shared").symlink_to(shared)
        subprocess.run(["git", "clone", "-q", str(self.repo), str(self.clone)], check=True)
        self.ended["clone"] = time.monotonic()
        env = os.environ | {name: str(port) for name, port in self.ports.items()}
        if self.cold:
            env["PIP_CACHE_DIR"] = str(self.folder / "pip-cache")
        make = subprocess.Popen(
            ["make", "run"],
            cwd=self.clone,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._read, args=(make,), daemon=True).start()
        try:
            venv = self.clone / ".venv"
            self._phase("venv", (venv / "bin" / "pip").exists, make)
            self._phase("install", (venv / ".installed").exists, make)
            self._phase("css", (self.clone / "static" / "build" / "app.css").exists, make)
            self._phase("migrate and demo", lambda: _web_started(self.clone), make)
            self._phase("processes up", lambda: all(map(_answers, self.ports.values())), make)
            waited = _first_token(self.ports["PORT"], self._agent())
            self.ended["first token"] = self.ended["processes up"] + waited
        finally:
            _stop(make, self.clone)

    def report(self) -> None:
        print(f"{'phase':<18}{'took':>8}{'since start':>13}")
        before = self.start
        for name, at in self.ended.items():
            print(f"{name:<18}{at - before:>7.1f}s{at - self.start:>12.1f}s")
            before = at
        for note in self.notes:
            print(f"note: {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pip-cache", choices=["warm", "cold"], default="warm")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the repository to clone")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for the whole run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="parley-first-run-") as folder:
        run = Run(Path(folder), args.repo.resolve(), cold=args.pip_cache == "cold")
        print(f"make run in a fresh clone of {args.repo}, pip cache {args.pip_cache}", flush=True)
        try:
            run.go(args.timeout)
        except Exception as exc:
            run.report()
            tail = run.output.decode(errors="replace").splitlines()[-30:]
            print(f"failed: {exc}", *tail, sep="\n", file=sys.stderr)
            return 1
        run.report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
