"""An agent as an OpenAI-compatible LLM: the secrets that may call it, and which Parley session
each remote conversation is."""

from django.db import models
from django.utils import timezone

from agents.models import Agent
from sessions.models import Session
from teams.models import Team

LLM_KEY_PREFIX = "ak_"
# Random characters kept in clear after "ak_": enough to find a key by index.
PREFIX_RANDOM_CHARS = 8


class AgentLLMKey(models.Model):
    """A bearer secret that lets a remote engine (Agora, a phone system…) use one agent as its
    LLM, and nothing else. Stored as an HMAC like the team's API keys; shown once."""

    team = models.ForeignKey(Team, models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, models.CASCADE, related_name="llm_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=20, db_index=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "agent LLM key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @staticmethod
    def prefix_of(secret: str) -> str:
        return secret[: len(LLM_KEY_PREFIX) + PREFIX_RANDOM_CHARS]

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class RemoteConversation(models.Model):
    """A caller's conversation id, and the Parley session that records it. Unique per agent, so
    two first requests at once settle on one row."""

    agent = models.ForeignKey(Agent, models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    session = models.ForeignKey(Session, models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "key"], name="remote_conversation_once"),
        ]

    def __str__(self) -> str:
        return f"{self.key} → {self.session_id}"
