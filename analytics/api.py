"""/v1/analytics: the figures of the analytics page, as JSON or CSV, from the same selector."""

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from uuid import UUID

from django.http import HttpResponse
from ninja import Field, Query, Router, Schema

from agents.selectors import agent_get
from parley.errors import InvalidInput
from teams.auth import READ, ApiRequest

from .selectors import (
    AnalyticsFigures,
    Bucket,
    CriterionFigures,
    Headline,
    Percentiles,
    analytics_figures,
)

router = Router(tags=["Analytics"])
DEFAULT_DAYS = 30
MAX_DAYS = 400
MAX_HOURLY_DAYS = 31
DATE_HELP = "YYYY-MM-DD (a whole day, UTC) or an ISO 8601 date and time"


class AnalyticsQuery(Schema):
    from_: str | None = Field(None, alias="from", description=f"Start, included: {DATE_HELP}.")
    to: str | None = Field(None, description=f"End: {DATE_HELP}; a day is included whole.")
    agent: UUID | None = Field(None, description="One of the team's agents.")
    version: int | None = Field(None, ge=1, description="A version number of `agent`.")
    bucket: Literal["day", "hour"] = "day"


def _moment(name: str, value: str, *, end: bool) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        return datetime.combine(day + timedelta(days=1 if end else 0), time.min, tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput.for_field(name, f"{value!r} is not a date; {DATE_HELP}.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _figures(request: ApiRequest, query: AnalyticsQuery) -> AnalyticsFigures:
    """Checks the query (a 400 saying what is wrong, another team's agent a 404), then reads."""
    team = request.auth.team
    end = _moment("to", query.to, end=True) if query.to else datetime.now(UTC)
    start = _moment("from", query.from_, end=False) if query.from_ else None
    start = start or end - timedelta(days=DEFAULT_DAYS)
    if end <= start:
        raise InvalidInput.for_field("to", "must be after from.")
    if end - start > timedelta(days=MAX_DAYS):
        raise InvalidInput.for_field("from", f"the range is at most {MAX_DAYS} days.")
    if query.bucket == "hour" and end - start > timedelta(days=MAX_HOURLY_DAYS):
        hourly = f"hour by hour, the range is at most {MAX_HOURLY_DAYS} days; use bucket=day."
        raise InvalidInput.for_field("bucket", hourly)
    if query.version is not None and query.agent is None:
        raise InvalidInput.for_field("version", "a version belongs to an agent: send agent too.")
    if query.agent is not None:
        agent_get(team=team, agent_id=query.agent)  # 404 for another team's agent
    return analytics_figures(
        team=team,
        start=start,
        end=end,
        agent_id=query.agent,
        version=query.version,
        bucket=query.bucket,
    )


class PercentilesOut(Schema):
    p50: float | None
    p95: float | None
    count: int


class BinOut(Schema):
    lower: float | None
    upper: float | None
    count: int


class SeriesPointOut(Schema):
    at: datetime
    channel: str
    type: str
    sessions: int


class ToolOut(Schema):
    tool: str
    calls: int
    failures: int
    failure_rate: float | None


class HeadlineOut(Schema):
    sessions: int
    ended_sessions: int
    duration_seconds: int
    average_duration_seconds: float | None
    turns: int
    average_turns: float | None
    tool_calls: int
    tool_failures: int
    tool_failure_rate: float | None
    errors: int
    llm_ttft: PercentilesOut
    voice_to_voice: PercentilesOut


class CriterionOut(Schema):
    name: str
    passed: int
    failed: int
    unknown: int
    success_rate: float | None = Field(description="passed / (passed + failed).")


class VersionOut(Schema):
    version: int | None = Field(description="Null: sessions with no version recorded.")
    headline: HeadlineOut
    tools: list[ToolOut]
    voice_stages: dict[str, PercentilesOut]
    errors: dict[str, int]
    criteria: list[CriterionOut]


class AnalyticsOut(Schema):
    start: datetime
    end: datetime
    bucket: Bucket
    totals: HeadlineOut
    series: list[SeriesPointOut]
    duration: list[BinOut]
    turns: list[BinOut]
    end_reasons: dict[str, int]
    tools: list[ToolOut]
    llm_ttft: PercentilesOut
    voice_to_voice: PercentilesOut
    voice_stages: dict[str, PercentilesOut]
    errors: dict[str, int]
    criteria: list[CriterionOut] = Field(
        description="The post-call analysis' success criteria, by name (docs/analysis.md)."
    )
    by_version: list[VersionOut] = Field(
        description="With `agent`: its figures by version; empty for the whole team."
    )


@router.get("/analytics", response=AnalyticsOut, auth=READ, operation_id="analytics_get")
def analytics_get(request: ApiRequest, query: Query[AnalyticsQuery]) -> AnalyticsFigures:
    """The team's figures (or one agent's, one version's) over the sessions started in the
    range, from the hourly rollup; percentiles in ms, exact to one histogram bucket."""
    return _figures(request, query)


def _headline_rows(scope: str, headline: Headline) -> list[list[object]]:
    def percentiles(name: str, figures: Percentiles) -> list[list[object]]:
        return [[scope, name, "p50", figures.p50], [scope, name, "p95", figures.p95]]

    plain = [
        "sessions", "ended_sessions", "duration_seconds", "average_duration_seconds", "turns",
        "average_turns", "tool_calls", "tool_failures", "tool_failure_rate", "errors",
    ]  # fmt: skip
    rows: list[list[object]] = [[scope, name, "", getattr(headline, name)] for name in plain]
    return (
        rows
        + percentiles("llm_ttft_ms", headline.llm_ttft)
        + percentiles("voice_to_voice_ms", headline.voice_to_voice)
    )


def _csv_rows(figures: AnalyticsFigures) -> list[list[object]]:
    """One figure a row: scope (total, series, a version), figure, key, value."""
    rows = _headline_rows("total", figures.totals)
    for point in figures.series:
        rows.append(
            ["series", f"{point.channel or 'unknown'}/{point.type}", point.at, point.sessions]
        )
    for name, bins in (("duration_seconds", figures.duration), ("turns", figures.turns)):
        rows += [["total", f"{name}_histogram", f"{b.lower}-{b.upper}", b.count] for b in bins]
    rows += [["total", "end_reason", reason, n] for reason, n in figures.end_reasons.items()]
    for tool in figures.tools:
        rows += [["total", f"tool:{tool.tool}", "calls", tool.calls]]
        rows += [["total", f"tool:{tool.tool}", "failures", tool.failures]]
    for stage, found in figures.voice_stages.items():
        rows += [
            ["total", f"{stage}_ms", "p50", found.p50],
            ["total", f"{stage}_ms", "p95", found.p95],
        ]
    rows += [["total", "error", code, n] for code, n in figures.errors.items()]
    rows += _criteria_rows("total", figures.criteria)
    for version in figures.by_version:
        scope = f"v{version.version}" if version.version is not None else "no version"
        rows += _headline_rows(scope, version.headline)
        rows += _criteria_rows(scope, version.criteria)
    return rows


def _criteria_rows(scope: str, criteria: list[CriterionFigures]) -> list[list[object]]:
    return [
        [scope, f"criterion:{c.name}", key, getattr(c, key)]
        for c in criteria
        for key in ("passed", "failed", "unknown", "success_rate")
    ]


@router.get("/analytics.csv", auth=READ, operation_id="analytics_csv")
def analytics_csv(request: ApiRequest, query: Query[AnalyticsQuery]) -> HttpResponse:
    """The same figures as /v1/analytics, as CSV: one figure a row (scope, figure, key, value)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["scope", "figure", "key", "value"])
    writer.writerows(_csv_rows(_figures(request, query)))
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="analytics.csv"'
    return response
