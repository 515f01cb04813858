"""Minting and revoking an agent's LLM keys, and finding the session a remote conversation is."""

from typing import Any
from uuid import UUID

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from activity.models import Action, TargetType
from activity.services import SYSTEM, Actor, activity_record
from agents.models import Agent
from parley.errors import Gone, NotFound, Unauthorized
from parley.tokens import token_digest, token_generate
from sessions import access
from sessions.models import Channel, Session, SessionStatus, SessionType
from sessions.services import session_end, session_status_set

from .models import LLM_KEY_PREFIX, AgentLLMKey, RemoteConversation
from .selectors import llm_key_for_secret

INVALID_KEY = "The key is not valid for this agent. Send 'Authorization: Bearer ak_…'."
# A secret good for one session's conversation only: what a remote engine that Parley started
# (Agora) calls the agent with. Signed, not stored; it dies with the session.
SESSION_KEY_PREFIX = "sl_"
SESSION_KEY_SALT = "parley.completions.session-key"


def _record_key(key: AgentLLMKey, agent: Agent, actor: Actor, action: Action) -> None:
    label = f"{key.prefix}… {key.name}".strip()
    activity_record(
        team=agent.team,
        actor=actor,
        action=action,
        target_type=TargetType.LLM_KEY,
        target_id=key.pk,
        target_label=f"{label} of {agent.name}",
    )


@transaction.atomic
def llm_key_create(
    *, agent: Agent, name: str = "", actor: Actor = SYSTEM
) -> tuple[AgentLLMKey, str]:
    """Returns the key row and the secret, which exists only in this return value."""
    secret = token_generate(LLM_KEY_PREFIX)
    key = AgentLLMKey(
        team_id=agent.team_id,
        agent=agent,
        name=name,
        prefix=AgentLLMKey.prefix_of(secret),
        digest=token_digest(secret, key=settings.SECRET_KEY),
    )
    key.full_clean(exclude=["team", "agent"])
    key.save()
    _record_key(key, agent, actor, Action.CREATED)
    return key, secret


@transaction.atomic
def llm_key_revoke(*, key: AgentLLMKey, actor: Actor = SYSTEM) -> AgentLLMKey:
    """Revoking twice changes nothing and records nothing the second time."""
    now = timezone.now()
    if AgentLLMKey.objects.filter(pk=key.pk, revoked_at=None).update(revoked_at=now):
        key.revoked_at = now
        _record_key(key, key.agent, actor, Action.REVOKED)
    return key


def llm_key_agent(*, secret: str, agent_id: Any) -> Agent:
    """The agent a bearer secret may use. A missing, wrong or revoked secret is Unauthorized;
    an agent of another team is NotFound, as if it did not exist."""
    key = llm_key_for_secret(secret.strip()) if secret else None
    if key is None or key.is_revoked:
        raise Unauthorized(INVALID_KEY if key is None else "This key has been revoked.")
    if str(key.agent_id) != str(agent_id):
        if Agent.objects.filter(id=agent_id, team_id=key.team_id).exists():
            raise Unauthorized(INVALID_KEY)
        raise NotFound("No agent with this id exists.")
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() >= 60:
        AgentLLMKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key.agent


def session_llm_key_issue(*, session: Session) -> str:
    return SESSION_KEY_PREFIX + signing.dumps(str(session.id), salt=SESSION_KEY_SALT)


def _session_of_key(secret: str) -> UUID | None:
    try:
        signed = secret[len(SESSION_KEY_PREFIX) :]
        age = settings.SESSION_TOKEN_MAX_AGE
        return UUID(signing.loads(signed, salt=SESSION_KEY_SALT, max_age=age))
    except (signing.BadSignature, ValueError):
        return None


def session_llm_key_session(*, secret: str, agent_id: Any) -> tuple[Session, Agent]:
    """The session a session-scoped secret (session_llm_key_issue) records into, and its agent.
    Unauthorized for a wrong or old secret or another agent; Gone once the session ended. A
    session still starting is running from its first turn."""
    session_id = _session_of_key(secret)
    session = (
        Session.objects.select_related("agent", "team").filter(pk=session_id).first()
        if session_id
        else None
    )
    if session is None or session.agent is None or str(session.agent_id) != str(agent_id):
        raise Unauthorized(INVALID_KEY)
    if session.is_over:
        raise Gone("The session this key was made for has ended.")
    if session.status == SessionStatus.STARTING:
        session_status_set(session=session, status=SessionStatus.RUNNING)
    return session, session.agent


def _session_new(agent: Agent, conversation_id: str) -> Session:
    starter = access.Starter(team=agent.team, channel=Channel.REMOTE)
    metadata = {"source": "chat_completions", "conversation_id": conversation_id}
    session = access.session_start(
        agent_id=agent.id, starter=starter, type=SessionType.CHAT, metadata=metadata
    )
    return session_status_set(session=session, status=SessionStatus.RUNNING)


def conversation_session(*, agent: Agent, conversation_id: str) -> Session:
    """The session recording this remote conversation: made on first sight, reused after, and
    made afresh when the one it had has ended (the idle sweep stopped it). Without an id each
    request is a conversation of its own."""
    if not conversation_id:
        return _session_new(agent, "")
    found = (
        RemoteConversation.objects.select_related("session", "session__agent", "session__team")
        .filter(agent=agent, key=conversation_id)
        .first()
    )
    if found is not None and not found.session.is_over:
        return found.session
    session = _session_new(agent, conversation_id)
    if found is not None:
        RemoteConversation.objects.filter(pk=found.pk).update(session=session)
        return session
    try:
        with transaction.atomic():
            RemoteConversation.objects.create(agent=agent, key=conversation_id, session=session)
    except IntegrityError:  # another request saw it first: that one's session is the one
        session_end(session=session, reason="duplicate of a concurrent first request")
        return (
            RemoteConversation.objects.select_related("session")
            .get(agent=agent, key=conversation_id)
            .session
        )
    return session
