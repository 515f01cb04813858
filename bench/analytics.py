"""Time the analytics rollup and /v1/analytics on seeded sessions.

    .venv/bin/python bench/analytics.py --sessions 100000 --events 1000000
    .venv/bin/python bench/analytics.py --database-url postgres://user:pw@127.0.0.1:5432/postgres

A throwaway database (as bench/api.py makes it) is migrated and seeded in bulk: one team with
`--agents` agents, two versions each, and `--sessions` sessions spread evenly over `--days`
days (UTC) across the four channels, chats and voice calls, with `--events` events among them
(user and assistant messages with latencies, tool calls a tenth of which fail, errors). Then:
the hourly rollup of one whole day, timed; every hour of the other days rolled up; and
/v1/analytics (JSON and CSV) and the analytics page (/analytics/, when present) requested
`--requests` times each through Django's test client, with their p95 and query counts.
"""

import argparse
import os
import random
import signal
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import _exit_on_sigterm, _throwaway_database, add_database_url_argument  # noqa: E402

GOAL_P95_MS = 200.0
START = datetime(2026, 3, 1, tzinfo=UTC)
CHANNELS = ["widget", "hosted", "api", "remote"]
TOOLS = ["weather", "calendar", "crm_lookup"]


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_database_url_argument(parser)
    parser.add_argument("--agents", type=int, default=1_000)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=10, help="the sessions' span")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per URL")
    parser.add_argument("--batch", type=int, default=20_000, help="rows per insert")
    return parser.parse_args()


def _events_for(session_id: uuid.UUID, at: datetime, count: int, rng: random.Random) -> list:
    from sessions.models import SessionEvent

    rows = []
    for seq in range(1, count + 1):
        pick = seq % 5
        if pick in (1, 3):
            kind, data = "message", {"role": "user", "content": "Hello?"}
        elif pick in (2, 4):
            latency = rng.randint(300, 2000)
            data = {"role": "assistant", "content": "Hi.", "ttft_ms": rng.randint(80, 900)}
            data |= {"latency_ms": latency, "turn_detection_ms": latency // 4}
            data |= {"stt_ms": latency // 5, "llm_ms": latency // 3, "tts_ms": latency // 6}
            kind = "message"
        elif rng.random() < 0.9:
            outcome = "success" if rng.random() < 0.9 else "http_error"
            kind, data = "tool_call", {"tool_name": rng.choice(TOOLS), "outcome": outcome}
        else:
            kind, data = "error", {"code": rng.choice(["llm_timeout", "provider_error"])}
        rows.append(
            SessionEvent(session_id=session_id, seq=seq, kind=kind, data=data, created_at=at)
        )
    return rows


def _seed(args: argparse.Namespace) -> int:
    """Rows as the services would write them, in bulk and big transactions."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from agents.models import Agent, AgentVersion
    from sessions.models import Session, SessionEvent
    from teams.models import Team

    call_command("migrate", verbosity=0)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=OFF")
    rng = random.Random(7)
    team = Team.objects.create(name="Acme")
    agents = Agent.objects.bulk_create(
        [Agent(team=team, name=f"Agent {n}", configuration={}) for n in range(args.agents)]
    )
    versions = AgentVersion.objects.bulk_create(
        [
            AgentVersion(agent=agent, number=number, name=agent.name, source="publish")
            for agent in agents
            for number in (1, 2)
        ]
    )
    per_session = args.events / args.sessions
    span = args.days * 86_400
    made = 0
    while made < args.sessions:
        batch = min(args.batch, args.sessions - made)
        sessions, events = [], []
        for n in range(made, made + batch):
            at = START + timedelta(seconds=span * n / args.sessions)
            index = rng.randrange(args.agents)
            kind = "voice" if n % 3 == 0 else "chat"
            session = Session(
                id=uuid.uuid4(), team=team, agent_id=agents[index].id, agent_name="Agent",
                agent_version_id=versions[index * 2 + (n % 2)].id, type=kind,
                channel=CHANNELS[n % 4], status="stopped", started_at=at,
                ended_at=at + timedelta(seconds=rng.randint(5, 2000)), end_reason="idle",
            )  # fmt: skip
            count = int(per_session) + (rng.random() < per_session % 1)
            session.last_event_seq = count
            sessions.append(session)
            events += _events_for(session.id, at, count, rng)
        with transaction.atomic():
            Session.objects.bulk_create(sessions, batch_size=5000)
            SessionEvent.objects.bulk_create(events, batch_size=5000)
        made += batch
        print(f"  seeded {made:,} sessions", end="\r", flush=True)
    print()
    return team.id


def _time(client, url: str, requests: int, headers: dict[str, str]) -> tuple[float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        client.get(url, headers=headers)
    times = []
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - began) * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get(url, headers=headers)
    p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
    return p95, len(queries), response.status_code


def main() -> int:
    args = _parse_args()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="parley-bench-")))
        os.environ["DATABASE_URL"] = stack.enter_context(
            _throwaway_database(args.database_url, workdir)
        )
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
        import django

        django.setup()
        from django.test.utils import override_settings

        # No collected manifest here: static URLs come from the finders, as in the tests.
        stack.enter_context(
            override_settings(
                STORAGES={
                    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                    "staticfiles": {
                        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
                    },
                }
            )
        )
        from django.db import connection
        from django.test import Client

        from analytics.services import analytics_rollup_compute
        from teams.models import Membership, Role, User

        began = time.perf_counter()
        team_id = _seed(args)
        print(f"seeded {args.sessions:,} sessions, {args.events:,} events, {args.agents:,} agents "
              f"on {connection.vendor} in {time.perf_counter() - began:.0f} s")  # fmt: skip
        day = START + timedelta(days=args.days // 2)
        began = time.perf_counter()
        rows = sum(analytics_rollup_compute(hour=day + timedelta(hours=h)) for h in range(24))
        seconds = time.perf_counter() - began
        per_day = args.sessions // args.days
        print(f"rollup of one day ({per_day:,} sessions): {seconds:.1f} s, {rows:,} rows")
        for hour in range(args.days * 24):
            at = START + timedelta(hours=hour)
            if not day <= at < day + timedelta(days=1):
                analytics_rollup_compute(hour=at)
        headers: dict[str, str] = {}  # signed in: the API takes the dashboard's session too
        client = Client(SERVER_NAME="127.0.0.1")
        user = User.objects.create_user(email="owner@example.com", password=None)
        Membership.objects.create(team_id=team_id, user=user, role=Role.OWNER)
        client.force_login(user)
        end = (START + timedelta(days=args.days)).date()
        query = f"?from={START.date()}&to={end}"
        met = True
        for url in (f"/v1/analytics{query}", f"/v1/analytics.csv{query}", f"/analytics/{query}"):
            p95, count, status = _time(client, url, args.requests, headers)
            if status == 404 and url.startswith("/analytics/"):
                print(f"{url}: no page yet")
                continue
            met &= p95 < GOAL_P95_MS and status == 200
            print(f"{url}: p95 {p95:.0f} ms, {count} queries, status {status}")
        print(f"goal p95 < {GOAL_P95_MS:.0f} ms: {'met' if met else 'MISSED'}")
        return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
