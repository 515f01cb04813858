"""Agents on Agora's Conversational AI engine: a team's credentials, starting a session (join),
following the remote agent (status, history), stopping it (leave), and speaking through it.

The Parley session is the record; `Session.remote` holds what Agora knows it by:
{agent_id, channel, agent_uid, user_uid, status, message, history, left_at}."""

import logging
import re
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from activity.models import Action, TargetType
from activity.services import Actor, activity_record
from agents.configuration import AgentConfiguration
from agents.models import Agent
from completions.services import session_llm_key_issue
from config.celery import enqueue_on_commit
from parley.errors import Conflict, InvalidInput, ParleyError
from providers.catalog import api_key_hint
from sessions.models import TRANSITIONS, EventKind, Session, SessionStatus, Transport
from sessions.selectors import session_configuration
from sessions.services import session_end, session_event_append, session_status_set
from teams.models import Team, User

from .client import (
    AgoraAgentExists,
    agora_history,
    agora_interrupt,
    agora_join,
    agora_leave,
    agora_list,
    agora_query,
    agora_speak,
)
from .models import AgoraAccount
from .properties import Channel, join_properties, tts_section

logger = logging.getLogger(__name__)

AGENT_UID = 1000
USER_UID = 1001
TOKEN_MAX_SECONDS = 86400  # Agora's longest-lived RTC token
SPEAK_MAX_BYTES = 512
PRIORITIES = ("INTERRUPT", "APPEND", "IGNORE")
# Agora's agent status, and the Parley session status it means.
STATUSES = {
    "IDLE": SessionStatus.STARTING,
    "STARTING": SessionStatus.STARTING,
    "RUNNING": SessionStatus.RUNNING,
    "RECOVERING": SessionStatus.RUNNING,
    "STOPPING": SessionStatus.STOPPING,
    "STOPPED": SessionStatus.STOPPED,
    "FAILED": SessionStatus.FAILED,
}
ALIVE = ["IDLE", "STARTING", "RUNNING", "RECOVERING"]
# The sessions whose remote agent the sync follows: a stopping one until it has stopped.
OPEN = (SessionStatus.STARTING, SessionStatus.RUNNING, SessionStatus.STOPPING)
GONE = "Agora no longer knows the agent"
_APP_ID = re.compile(r"[0-9a-fA-F]{32}")


class AgoraNotConfigured(Conflict):
    code = "agora_not_configured"


class NotOnAgora(Conflict):
    code = "not_agora"


# Credentials.


def agora_account_get(*, team: Team) -> AgoraAccount | None:
    return AgoraAccount.objects.filter(team=team).first()


def _account(team_id: Any) -> AgoraAccount:
    account = AgoraAccount.objects.filter(team_id=team_id).first()
    if account is None:
        raise AgoraNotConfigured(
            "This team has no Agora credentials: an owner or admin adds them under "
            "Settings → Agora."
        )
    return account


def _secret(field: str, typed: str | None, stored: str, *, required: bool) -> str:
    value = (typed or "").strip() or stored
    if required and not value:
        raise InvalidInput.for_field(field, "is required.")
    if len(value) > 200 or not value.isprintable() or any(c.isspace() for c in value):
        raise InvalidInput.for_field(field, "paste the value alone: no spaces or line breaks.")
    return value


def _hex32(field: str, value: str) -> str:
    if value and not _APP_ID.fullmatch(value):
        raise InvalidInput.for_field(field, "is 32 hexadecimal characters, as Agora shows it.")
    return value


def _shown(account: AgoraAccount | None) -> dict[str, str]:
    """The credentials as the activity log keeps them: the app id, the secrets as hints."""
    if account is None:
        return {}
    return {
        "app_id": account.app_id,
        "customer_id": api_key_hint(account.customer_id),
        "customer_secret": api_key_hint(account.customer_secret),
        "app_certificate": api_key_hint(account.app_certificate),
    }


def _record(team: Team, actor: Actor, action: Action, before: dict[str, str], after: Any) -> None:
    activity_record(
        team=team,
        actor=actor,
        action=action,
        target_type=TargetType.PROVIDER,
        target_id="agora",
        target_label="Agora Conversational AI",
        before=before,
        after=after,
    )


@transaction.atomic
def agora_account_save(
    *,
    team: Team,
    user: User | None,
    app_id: str,
    customer_id: str | None,
    customer_secret: str | None,
    app_certificate: str | None,
    remove_certificate: bool = False,
) -> AgoraAccount:
    """Store or replace the team's credentials. A blank customer id, secret or certificate
    keeps the stored one; `remove_certificate` drops the certificate (no RTC tokens then)."""
    found = AgoraAccount.objects.select_for_update().filter(team=team).first()
    before = _shown(found)
    account = found or AgoraAccount(team=team, created_by=user)
    certificate = "" if remove_certificate else account.app_certificate
    account.credentials = {
        "app_id": _hex32("app_id", _secret("app_id", app_id, "", required=True)),
        "customer_id": _secret("customer_id", customer_id, account.customer_id, required=True),
        "customer_secret": _secret(
            "customer_secret", customer_secret, account.customer_secret, required=True
        ),
        "app_certificate": _hex32(
            "app_certificate",
            _secret("app_certificate", app_certificate, certificate, required=False),
        ),
    }
    account.updated_at = timezone.now()
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError as exc:  # a concurrent first save for the same team
        raise Conflict("Someone saved Agora credentials at the same moment; try again.") from exc
    action = Action.UPDATED if found else Action.CREATED
    _record(team, Actor(user=user), action, before, _shown(account))
    return account


@transaction.atomic
def agora_account_delete(*, team: Team, user: User | None = None) -> bool:
    found = AgoraAccount.objects.select_for_update().filter(team=team).first()
    if found is None:
        return False
    found.delete()
    _record(team, Actor(user=user), Action.DELETED, _shown(found), None)
    return True


# Remote state.


@transaction.atomic
def _remote_merge(session: Session, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge `changes` into the session's `remote` under its row lock, so that the sync and the
    end of a session do not overwrite each other."""
    locked = Session.objects.select_for_update().only("remote").get(pk=session.pk)
    session.remote = {**(locked.remote or {}), **changes}
    Session.objects.filter(pk=session.pk).update(remote=session.remote)
    return session.remote


def _follow(session: Session, agora_status: str, message: str = "") -> None:
    """Move the Parley session to what Agora's status means, where its lifecycle allows."""
    target = STATUSES.get(agora_status)
    session.refresh_from_db(fields=["status"])
    if target is None or target == session.status or target not in TRANSITIONS[session.status]:
        return
    said = f": {message}" if message else ""
    if target == SessionStatus.STOPPED:
        session_end(session=session, reason=f"the Agora agent stopped{said}"[:200])
    elif target == SessionStatus.FAILED:
        session_status_set(session=session, status=target, reason=f"Agora: failed{said}"[:200])
    else:
        session_status_set(session=session, status=target)


def _fail(session: Session, exc: ParleyError) -> None:
    """Mark the session failed with what Agora said."""
    detail = exc.details.get("agora_detail") or exc.message
    reason = exc.details.get("agora_reason")
    text = f"Agora: {detail}" + (f" ({reason})" if reason else "")
    session.refresh_from_db(fields=["status"])
    if SessionStatus.FAILED in TRANSITIONS[session.status]:
        session_status_set(session=session, status=SessionStatus.FAILED, reason=text[:200])


# Starting.


def agora_start_check(agent: Agent, config: AgentConfiguration) -> None:
    """What must hold before an Agora session is created: the team's credentials, and a voice
    Agora can speak with (and the team's key for it)."""
    _account(agent.team_id)
    tts_section(agent.team, config)


def _rtc_token(account: AgoraAccount, channel: str, uid: int, seconds: int) -> str:
    """An RTC token (AccessToken2) when the app has a certificate; "" when it has none."""
    if not account.app_certificate:
        return ""
    from agora_agent.agentkit.token import generate_rtc_token  # slow to import: only here

    expiry = min(seconds, TOKEN_MAX_SECONDS)
    return generate_rtc_token(
        account.app_id, account.app_certificate, channel, uid, expiry_seconds=expiry
    )


def _adopt(account: AgoraAccount, channel: str, exc: AgoraAgentExists) -> dict[str, Any]:
    """A 409 on join: the agent of this name already runs; find it in the channel."""
    for found in agora_list(account=account, channel=channel, states=ALIVE):
        if found.get("agent_id"):
            return {"agent_id": found["agent_id"], "status": found.get("status") or "RUNNING"}
    raise exc


def _join(account: AgoraAccount, channel: str, properties: dict[str, Any]) -> dict[str, Any]:
    try:
        return agora_join(account=account, name=channel, properties=properties)
    except AgoraAgentExists as exc:
        return _adopt(account, channel, exc)


def _properties(
    session: Session, config: AgentConfiguration, channel: Channel, public_base: str
) -> dict[str, Any]:
    path = reverse("agent_chat_completions", args=[session.agent_id])
    return join_properties(
        team=session.team,
        config=config,
        channel=channel,
        llm_url=public_base.rstrip("/") + path,
        llm_key=session_llm_key_issue(session=session),
        model=f"parley-agent-{session.agent_id}",
    )


def _channel(session: Session, account: AgoraAccount, seconds: int) -> Channel:
    """The session's own channel, and its record on the session at once (transport agora)."""
    name = f"parley-{session.id.hex}"
    token = _rtc_token(account, name, AGENT_UID, seconds)
    channel = Channel(name, str(AGENT_UID), str(USER_UID), token)
    remote = {"channel": name, "agent_uid": channel.agent_uid, "user_uid": channel.user_uid}
    Session.objects.filter(pk=session.pk).update(transport=Transport.AGORA, remote=remote)
    session.transport, session.remote = Transport.AGORA, remote
    return channel


def agora_session_start(*, session: Session, public_base: str) -> dict[str, Any]:
    """Have an Agora agent join a channel of the session's own, with Parley as its LLM at
    `public_base`, and hand the person their way into the channel. Agora failing marks the
    session failed (with Agora's detail and reason) and is raised."""
    account = _account(session.team_id)
    config = AgentConfiguration.model_validate(session_configuration(session=session))
    seconds = config.max_duration_seconds + 300  # the token outlives the longest session
    channel = _channel(session, account, seconds)
    try:
        properties = _properties(session, config, channel, public_base)
        joined = _join(account, channel.name, properties)
    except ParleyError as exc:
        _fail(session, exc)
        raise
    status = str(joined.get("status") or "STARTING")
    _remote_merge(session, {"agent_id": str(joined["agent_id"]), "status": status})
    _follow(session, status)
    return {
        "sessionId": session.id,
        "type": "voice",
        "transport": "agora",
        "appId": account.app_id,
        "channel": channel.name,
        "uid": USER_UID,
        "agentUid": AGENT_UID,
        "rtcToken": _rtc_token(account, channel.name, USER_UID, seconds) or None,
    }


# Following and stopping.


def _history_keep(session: Session, account: AgoraAccount, agent_id: str) -> None:
    """Keep the agent's history on the session while Agora still has it (only while it runs)."""
    try:
        history = agora_history(account=account, agent_id=agent_id)
    except ParleyError as exc:
        logger.warning("Could not read Agora agent %s's history: %s", agent_id, exc.message)
        return
    if history:
        _remote_merge(session, {"history": history})


def _over(session: Session, status: str, message: str) -> None:
    """The remote agent is gone (stopped, failed, or unknown to Agora): nothing to leave."""
    changes = {"status": status, "message": message, "left_at": timezone.now().isoformat()}
    _remote_merge(session, changes)
    _follow(session, status, message)


def agora_session_sync(*, session: Session, account: AgoraAccount) -> str:
    """Read the remote agent's status into the session (and its history while it runs). The
    status read; ParleyError when Agora could not be asked."""
    agent_id = str(session.remote.get("agent_id"))
    state = agora_query(account=account, agent_id=agent_id)
    if state is None:
        _over(session, "STOPPED", GONE)
        return "STOPPED"
    status, message = str(state.get("status") or ""), str(state.get("message") or "")
    if status in ("STOPPED", "FAILED"):
        _over(session, status, message)
        return status
    if status in ("RUNNING", "RECOVERING"):
        _history_keep(session, account, agent_id)
    _remote_merge(session, {"status": status, "message": message})
    _follow(session, status, message)
    return status


def _sync_open(session: Session, counts: dict[str, int]) -> None:
    account = getattr(session.team, "agora_account", None)
    if account is None:  # the credentials were removed: nothing can be asked
        return
    try:
        agora_session_sync(session=session, account=account)
        counts["synced"] += 1
    except ParleyError as exc:
        logger.warning("Could not follow Agora session %s: %s", session.pk, exc.message)
        counts["failed"] += 1


def _leave_missed(session: Session, counts: dict[str, int]) -> None:
    try:
        counts["left"] += agora_session_leave(session_id=session.pk)
    except ParleyError as exc:
        logger.warning("Could not stop Agora session %s's agent: %s", session.pk, exc.message)
        counts["failed"] += 1


def agora_sessions_sync() -> dict[str, int]:
    """Follow every open Agora session; stop the agents of sessions ended in the last day
    whose leave has not happened (it failed, or its message was lost)."""
    counts = {"synced": 0, "failed": 0, "left": 0}
    found = Session.objects.select_related("team__agora_account").filter(
        transport=Transport.AGORA, remote__has_key="agent_id"
    )
    for session in found.filter(status__in=OPEN):
        _sync_open(session, counts)
    since = timezone.now() - timedelta(days=1)
    ended = found.filter(status=SessionStatus.STOPPED, ended_at__gte=since)
    for session in ended.exclude(remote__has_key="left_at"):
        _leave_missed(session, counts)
    return counts


def agora_session_leave(*, session_id: Any) -> bool:
    """Stop the remote agent of an ended session, keeping its history first (Agora serves it
    only while the agent runs). True once left now; False when there was nothing to do.
    AgoraUnavailable and AgoraFailed are raised for the caller to retry."""
    session = Session.objects.select_related("team").get(pk=session_id)
    agent_id = str(session.remote.get("agent_id") or "")
    if not agent_id or "left_at" in session.remote or not session.is_over:
        return False
    account = AgoraAccount.objects.filter(team_id=session.team_id).first()
    if account is None:  # given up: Agora stops it after its idle timeout
        _remote_merge(session, {"left_at": None, "message": "no Agora credentials to leave with"})
        return False
    _history_keep(session, account, agent_id)
    agora_leave(account=account, agent_id=agent_id)
    _remote_merge(session, {"left_at": timezone.now().isoformat(), "status": "STOPPED"})
    return True


def agora_leave_later(session: Session) -> None:
    """When a session ends: queue the leave of its Agora agent, if it has one still there."""
    remote = session.remote or {}
    if session.transport != Transport.AGORA or not remote.get("agent_id"):
        return
    if "left_at" in remote:
        return
    from .tasks import leave_agora_agent

    enqueue_on_commit(leave_agora_agent, str(session.pk))


# Speaking.


def _live(session: Session) -> tuple[AgoraAccount, str]:
    if session.transport != Transport.AGORA:
        raise NotOnAgora(
            "This session does not run on Agora: speak and interrupt work only in sessions "
            "of agents whose runtime is agora."
        )
    if session.is_over:
        raise Conflict("This session has ended; its Agora agent is gone.")
    agent_id = str((session.remote or {}).get("agent_id") or "")
    if not agent_id:
        raise Conflict("The session's Agora agent has not started.")
    return _account(session.team_id), agent_id


def _speech(text: str, priority: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidInput.for_field("text", "say something: the text is empty.")
    if len(text.encode()) > SPEAK_MAX_BYTES:
        raise InvalidInput.for_field("text", f"Agora speaks at most {SPEAK_MAX_BYTES} bytes.")
    if priority not in PRIORITIES:
        raise InvalidInput.for_field("priority", f"is one of {', '.join(PRIORITIES)}.")
    return text


def agora_session_speak(
    *, session: Session, text: str, priority: str = "INTERRUPT", interruptable: bool = True
) -> dict[str, Any]:
    """Have the agent say `text` now (Agora's speak); recorded as the agent's message."""
    text = _speech(text, priority)
    account, agent_id = _live(session)
    answer = agora_speak(
        account=account,
        agent_id=agent_id,
        text=text,
        priority=priority,
        interruptable=interruptable,
    )
    data = {"role": "assistant", "content": text, "source": "agora_speak", "priority": priority}
    session_event_append(session=session, kind=EventKind.MESSAGE, data=data)
    return answer


def agora_session_interrupt(*, session: Session) -> dict[str, Any]:
    """Stop the agent speaking and thinking at once (Agora's interrupt)."""
    account, agent_id = _live(session)
    return agora_interrupt(account=account, agent_id=agent_id)
