from django.db import models
from django.utils import timezone

from agents.models import Agent
from teams.models import Team


class AgentDailyStats(models.Model):
    """One agent's figures for one day (in TIME_ZONE), over the sessions that started that day.
    The rollup recomputes a day whole, so a row is always right as of `computed_at`."""

    agent = models.ForeignKey(Agent, models.CASCADE, related_name="daily_stats")
    team = models.ForeignKey(Team, models.CASCADE, related_name="+")
    day = models.DateField()
    sessions = models.PositiveIntegerField(default=0)
    ended_sessions = models.PositiveIntegerField(default=0)
    # The ended sessions' time from start to end, added up.
    duration_seconds = models.PositiveBigIntegerField(default=0)
    turns = models.PositiveIntegerField(default=0)  # the people's messages
    tool_calls = models.PositiveIntegerField(default=0)
    tool_failures = models.PositiveIntegerField(default=0)
    # Time to the first token of the LLM's replies; null on a day without a measured reply.
    llm_ttft_p50_ms = models.FloatField(null=True, blank=True)
    llm_ttft_p95_ms = models.FloatField(null=True, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "agent daily stats"
        constraints = [
            # One row per agent and day; also the index that reads an agent's days in order.
            models.UniqueConstraint(fields=["agent", "day"], name="agent_daily_stats_once"),
        ]
        indexes = [
            # Analytics pages: a team's figures over a range of days.
            models.Index(fields=["team", "day"], name="agent_daily_stats_team"),
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.sessions} sessions"
