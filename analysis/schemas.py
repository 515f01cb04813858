from datetime import date, datetime
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from config.bodies import BodyIn


class CriterionResultOut(Schema):
    name: str
    result: Literal["pass", "fail", "unknown"]
    reason: str


class AnalysisOut(Schema):
    """A session's post-call analysis (docs/analysis.md)."""

    status: Literal["pending", "running", "done", "failed"]
    summary: str
    data: Any = Field(description="The data extracted, as the agent's data schema describes.")
    criteria: list[CriterionResultOut]
    error: str = Field(description="Why it failed; empty otherwise.")
    agent_version: int | None = Field(description="The version whose settings were applied.")
    llm: str = Field(description='The LLM that ran it, as "provider/model".')
    attempts: int
    requested_at: datetime
    finished_at: datetime | None
    duration_ms: int | None


class RangeIn(BodyIn):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: date = Field(alias="from", description="The first day, as YYYY-MM-DD.")
    end: date = Field(alias="to", description="The last day, included.")


class QueuedOut(Schema):
    queued: int = Field(description="The sessions whose analysis was queued.")
