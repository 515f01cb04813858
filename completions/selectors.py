import hmac

from django.conf import settings
from django.db.models import QuerySet

from agents.models import Agent
from parley.tokens import token_digest

from .models import LLM_KEY_PREFIX, AgentLLMKey


def llm_key_for_secret(secret: str) -> AgentLLMKey | None:
    """The key matching a presented secret, revoked or not: found by its public prefix, then
    its HMAC compared in constant time (as teams.selectors.api_key_for_secret does)."""
    if not secret.startswith(LLM_KEY_PREFIX) or len(secret) > 200:
        return None
    digest = token_digest(secret, key=settings.SECRET_KEY)
    candidates = AgentLLMKey.objects.select_related("agent", "team").filter(
        prefix=AgentLLMKey.prefix_of(secret)
    )
    for key in candidates:
        if hmac.compare_digest(key.digest, digest):
            return key
    return None


def llm_key_list(*, agent: Agent) -> QuerySet[AgentLLMKey]:
    return AgentLLMKey.objects.filter(agent=agent).order_by("-created_at", "-id")
