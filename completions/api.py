"""An agent's LLM keys in the API: mint (the secret shown once), list (masked), revoke."""

from datetime import datetime
from uuid import UUID

from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from agents.selectors import agent_get
from config.addresses import async_url
from config.bodies import BodyIn
from parley.errors import NotFound
from teams.auth import READ, WRITE, ApiRequest

from .models import AgentLLMKey
from .selectors import llm_key_list
from .services import llm_key_create, llm_key_revoke

router = Router(tags=["Agents as an LLM"])


class LLMKeyIn(BodyIn):
    name: str = Field("", max_length=100, description="Where the key is used.")


class LLMKeyOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class LLMKeyCreatedOut(LLMKeyOut):
    key: str  # the secret, shown only in this answer
    completions_url: str


def _key(request: ApiRequest, agent_id: UUID, key_id: int) -> AgentLLMKey:
    agent = agent_get(team=request.auth.team, agent_id=agent_id)
    found = llm_key_list(agent=agent).filter(id=key_id).first()
    if found is None:
        raise NotFound("This agent has no key with this id.")
    return found


@router.post(
    "/agents/{agent_id}/llm-keys",
    response={201: LLMKeyCreatedOut},
    auth=WRITE,
    operation_id="agent_llm_key_create",
)
def agent_llm_key_create(request: ApiRequest, agent_id: UUID, payload: LLMKeyIn) -> Status:
    """A key that lets a remote engine call this agent at `completions_url` as an
    OpenAI-compatible LLM (`Authorization: Bearer ak_…`). The key is shown only here."""
    agent = agent_get(team=request.auth.team, agent_id=agent_id)
    key, secret = llm_key_create(agent=agent, name=payload.name, actor=request.auth.actor)
    url = async_url(request, "agent_chat_completions", agent.id)
    shown = LLMKeyOut.model_validate(key, from_attributes=True).model_dump()
    return Status(201, shown | {"key": secret, "completions_url": url})


@router.get(
    "/agents/{agent_id}/llm-keys",
    response=list[LLMKeyOut],
    auth=READ,
    operation_id="agent_llm_key_list",
)
@paginate
def agent_llm_key_list(request: ApiRequest, agent_id: UUID) -> list[AgentLLMKey]:
    agent = agent_get(team=request.auth.team, agent_id=agent_id)
    return list(llm_key_list(agent=agent))


@router.delete(
    "/agents/{agent_id}/llm-keys/{key_id}",
    response=LLMKeyOut,
    auth=WRITE,
    operation_id="agent_llm_key_revoke",
)
def agent_llm_key_revoke(request: ApiRequest, agent_id: UUID, key_id: int) -> AgentLLMKey:
    """Revoke the key: its next call is refused with 401."""
    return llm_key_revoke(key=_key(request, agent_id, key_id), actor=request.auth.actor)
