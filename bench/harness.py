"""What the benchmarks share: a throwaway database, free loopback ports, the processes a run
starts (stopped when it ends, error or SIGTERM included) and what /proc says of them.

Only the standard library is imported here at the top, so that a script run before Parley's
dependencies are installed (bench/first_run.py) can use it too."""

import argparse
import math
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def exit_on_sigterm(signum: int, frame: object) -> None:
    """A SIGTERM handler: unwinds the run's ExitStack, which stops what it started."""
    raise SystemExit(128 + signum)


@dataclass(frozen=True)
class Process:
    """A process this run started, and what /proc says about it (Linux only)."""

    port: int
    pid: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def cpu_seconds(self) -> float:
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return math.nan
        fields = stat.rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mib(self, field: str = "VmHWM") -> float:
        """VmRSS (resident now) or VmHWM (the most it has been resident)."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return math.nan
        for line in status.splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
        return math.nan


def add_database_url_argument(parser: argparse.ArgumentParser) -> None:
    """--database-url, as every benchmark takes it."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", ""),
        help="PostgreSQL server to create the throwaway database on "
        "(default $BENCH_DATABASE_URL; empty: a temporary SQLite file)",
    )


@contextmanager
def throwaway_database(url: str, workdir: Path) -> Iterator[str]:
    """A SQLite file in `workdir` when `url` is empty; else a new database on the PostgreSQL
    server of `url` (its user needs CREATEDB), dropped at the end. Yields its URL."""
    if not url:
        yield f"sqlite:///{workdir / 'bench.sqlite3'}"
        return
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise SystemExit(f"--database-url must be a postgres:// URL, not {parts.scheme}://")
    name = f"parley_bench_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(drop.format(sql.Identifier(name)))


def nearest_rank_ms(seconds: list[float], q: float) -> float:
    """The `q` quantile (0 to 1) of `seconds` by the nearest-rank method, in milliseconds; NaN
    when there is none."""
    ordered = sorted(seconds)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000 if ordered else math.nan


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def busy_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy since boot, from /proc/stat (Linux only)."""
    try:
        ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except OSError:
        return math.nan
    idle_and_iowait = ticks[3] + ticks[4]  # the others: user, nice, system, irq, softirq, steal
    return (sum(ticks) - idle_and_iowait) / os.sysconf("SC_CLK_TCK")


@contextmanager
def stopped_at_exit(process: subprocess.Popen[Any]) -> Iterator[None]:
    """Terminate `process` when the block ends, and kill it if it does not go in 15 s."""
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def bench_script(name: str, *args: str) -> Iterator[Process]:
    """bench/<name> in its own process, on a port it picks and prints."""
    command = [sys.executable, str(ROOT / "bench" / name), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    with stopped_at_exit(process):
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(f"bench/{name} did not start (exit status {process.poll()})")
        yield Process(port=int(line), pid=process.pid)
