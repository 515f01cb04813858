"""Post-call analysis: when a session ends, an LLM reads its transcript and writes a summary,
the data the agent's JSON Schema asks for, and a verdict per success criterion, all as one JSON
object that is checked before anything is recorded. An answer that is not JSON, data that breaks
the schema, a missing verdict, an LLM down: each is a failure with its reason, never a pass."""

import json
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import pydantic
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from jsonschema.exceptions import best_match

from agents.configuration import AgentConfiguration, AnalysisConfig, LLMConfig
from agents.models import Agent
from config.celery import enqueue, enqueue_on_commit
from parley.days import day_start
from parley.errors import Conflict, InvalidInput, ParleyError
from parley.llm import LLMEndpoint, LLMFailure, LLMReply, chat_stream
from parley.outbound import OutboundClient, Policy
from parley.schemas import SchemaRefused, safe_validator
from sessions.models import Session
from sessions.services import session_callback_held, session_callback_url, session_transcript
from sessions.tasks import deliver_end_of_conversation

from .models import AnalysisStatus, SessionAnalysis, Verdict
from .tasks import analyse_session

NOTHING_TO_DO = (
    "The agent has nothing to analyse: give it a summary prompt, a data schema or success "
    "criteria (its analysis settings)."
)
RECONCILE_AFTER = timedelta(minutes=1)
RECONCILE_WINDOW = timedelta(days=1)
# An attempt running longer than the task's hard limit lost its worker.
RUNNING_MAX = timedelta(seconds=330) + RECONCILE_AFTER
RERUN_MAX_SESSIONS = 1000
REASON_MAX = 500
WORKER_LOST = "The analysis never finished: its worker stopped."
INSTRUCTIONS = (
    "You analyse a finished conversation between an AI agent and a user, given below. Answer "
    "with one JSON object and nothing else, with these keys:\n"
)


class Unusable(Exception):
    """The analysis LLM answered, but not with what was asked."""


def _configuration(session: Session) -> AgentConfiguration:
    """The agent's published configuration, whose analysis settings a run applies."""
    if session.agent is None:
        raise Conflict("The session's agent was deleted, and its analysis settings with it.")
    try:
        return AgentConfiguration.model_validate(session.agent.configuration)
    except pydantic.ValidationError as exc:
        raise Conflict(f"The agent's configuration is not valid: {exc.errors()[0]['msg']}") from exc


def analysis_wanted(*, session: Session) -> bool:
    document = session.agent.configuration if session.agent is not None else {}
    try:
        return AnalysisConfig.model_validate(document.get("analysis") or {}).wanted
    except pydantic.ValidationError:
        return False


@transaction.atomic
def analysis_request(*, session: Session) -> SessionAnalysis:
    """Queue the session's analysis, replacing the one it has. Conflict when the session has
    not ended or its agent has nothing to analyse."""
    locked = (
        Session.objects.select_for_update(of=("self",)).select_related("agent").get(pk=session.pk)
    )
    if not locked.is_over:
        raise Conflict("The session has not ended: it is analysed once it has.")
    if not _configuration(locked).analysis.wanted:
        raise Conflict(NOTHING_TO_DO)
    analysis = SessionAnalysis.objects.filter(session=locked).first()
    if analysis is None:
        analysis = SessionAnalysis(session=locked, team_id=locked.team_id, run=0)
    analysis.run += 1
    analysis.status, analysis.attempts, analysis.error = AnalysisStatus.PENDING, 0, ""
    analysis.summary, analysis.data, analysis.criteria, analysis.results = "", None, [], {}
    analysis.requested_at, analysis.next_attempt_at = timezone.now(), None
    analysis.started_at = analysis.finished_at = analysis.duration_ms = None
    analysis.full_clean(exclude=["session", "team", "agent_version"], validate_unique=False)
    analysis.save()
    enqueue_on_commit(analyse_session, str(analysis.id), analysis.run)
    return analysis


def analyses_request(*, agent: Agent, start: date, end: date) -> int:
    """Analyse again every ended session of the agent started from `start` to `end` (whole days,
    both included, in the site's time zone); the number queued."""
    if end < start:
        raise InvalidInput.for_field("to", "is before from")
    sessions = Session.objects.filter(
        agent=agent,
        ended_at__isnull=False,
        started_at__gte=day_start(start),
        started_at__lt=day_start(end + timedelta(days=1)),
    )
    found = list(sessions.select_related("agent")[: RERUN_MAX_SESSIONS + 1])
    if len(found) > RERUN_MAX_SESSIONS:
        raise InvalidInput.for_field(
            "from", f"the range holds more than {RERUN_MAX_SESSIONS} sessions: make it shorter"
        )
    if found and not _configuration(found[0]).analysis.wanted:
        raise Conflict(NOTHING_TO_DO)
    for session in found:
        analysis_request(session=session)
    return len(found)


# A run.


def _claim(analysis_id: UUID, run: int) -> SessionAnalysis | None:
    """Take the run's next attempt; None when it is not due (done, running, or replaced)."""
    waiting = Q(status=AnalysisStatus.PENDING) | Q(
        status=AnalysisStatus.FAILED, next_attempt_at__isnull=False
    )
    claimed = (
        SessionAnalysis.objects.filter(waiting, pk=analysis_id, run=run).update(
            status=AnalysisStatus.RUNNING,
            attempts=F("attempts") + 1,
            started_at=timezone.now(),
            next_attempt_at=None,
        )
        == 1
    )
    if not claimed:
        return None
    return SessionAnalysis.objects.select_related("session__agent").get(pk=analysis_id)


def analysis_llm(
    *, session: Session, config: AgentConfiguration
) -> tuple[LLMEndpoint, str | None, str]:
    """The analysis LLM of `config` (its own, or the agent's) for the session's team: its
    endpoint, its trusted host, and "provider/model" for the record. Unusable when it has no
    credentials or no URL."""
    from sessions.engine import llm_endpoint  # the conversation engine's, with its rules

    chosen = config.analysis.llm
    if chosen.chosen:
        provider = chosen.provider or "custom"
        llm = LLMConfig(provider=provider, model=chosen.model, custom_url=chosen.custom_url)
        config = config.model_copy(update={"llm": llm})
    label = f"{'custom' if config.llm.custom_url else config.llm.provider}/{config.llm.model}"
    try:
        endpoint, trusted, _ = llm_endpoint(session, config)
    except ParleyError as missing:
        raise Unusable(missing.message) from missing
    except LookupError:
        raise Unusable("The analysis LLM's provider is custom, but it has no URL.") from None
    return endpoint, trusted, label


async def _ask(endpoint: LLMEndpoint, trusted: str | None, messages: list[Any]) -> LLMReply:
    policy = Policy.from_settings()
    if trusted:
        policy = replace(policy, allowed_hosts=policy.allowed_hosts | {trusted})
    async with OutboundClient(policy) as client:
        async for item in chat_stream(
            client,
            endpoint,
            messages=messages,
            connect_timeout=settings.LLM_CONNECT_TIMEOUT,
            read_timeout=settings.LLM_READ_TIMEOUT,
            temperature=0,
            response_format={"type": "json_object"},
        ):
            if isinstance(item, LLMReply):
                return item
    raise AssertionError("chat_stream ends with its reply")  # pragma: no cover


def analysis_prompt(*, config: AnalysisConfig, transcript: str) -> list[dict[str, str]]:
    asks = []
    if config.summary_prompt.strip():
        asks.append(f'"summary": a string. {config.summary_prompt.strip()}')
    if config.data_schema:
        schema = json.dumps(config.data_schema, ensure_ascii=False)
        asks.append(f'"data": an object that matches this JSON Schema: {schema}')
    if config.success_criteria:
        rules = "\n".join(f"  {c.name}: {c.rule}" for c in config.success_criteria)
        asks.append(
            '"criteria": an object with one key per criterion below, each '
            '{"result": "pass", "fail" or "unknown", "reason": one short sentence}; "unknown" '
            f"when the conversation does not tell.\n{rules}"
        )
    system = INSTRUCTIONS + "\n".join(f"- {ask}" for ask in asks)
    said = transcript or "(nothing was said)"
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": f"The conversation:\n{said}"},
    ]


def _answer(text: str) -> dict[str, Any]:
    text = text.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    try:
        value = json.loads(text)
    except ValueError:
        raise Unusable(f"The analysis LLM did not answer with JSON: {text[:200]!r}") from None
    if not isinstance(value, dict):
        raise Unusable("The analysis LLM answered JSON, but not an object.")
    return value


def _data(config: AnalysisConfig, answer: dict[str, Any]) -> Any:
    if not config.data_schema:
        return None
    try:
        validator = safe_validator(config.data_schema)
    except SchemaRefused as exc:
        raise Unusable(f"The data schema is refused: {exc}") from None
    data = answer.get("data")
    if (error := best_match(validator.iter_errors(data))) is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        at = f" at {where}" if where else ""
        raise Unusable(f"The extracted data does not match the data schema{at}: {error.message}")
    return data


def _verdicts(config: AnalysisConfig, answer: dict[str, Any]) -> list[dict[str, str]]:
    given = answer.get("criteria") if config.success_criteria else {}
    if not isinstance(given, dict):
        raise Unusable('The analysis LLM gave no "criteria" object.')
    verdicts = []
    for criterion in config.success_criteria:
        verdict = given.get(criterion.name)
        result = verdict.get("result") if isinstance(verdict, dict) else None
        if result not in Verdict.values:
            raise Unusable(
                f"The analysis LLM gave no pass, fail or unknown for {criterion.name!r}."
            )
        reason = str(verdict.get("reason") or "")[:REASON_MAX]  # type: ignore[union-attr]
        verdicts.append({"name": criterion.name, "result": result, "reason": reason})
    return verdicts


def _results(config: AnalysisConfig, text: str) -> dict[str, Any]:
    answer = _answer(text)
    summary = answer.get("summary", "") if config.summary_prompt.strip() else ""
    if not isinstance(summary, str):
        raise Unusable("The analysis LLM's summary is not a string.")
    verdicts = _verdicts(config, answer)
    return {
        "summary": summary,
        "data": _data(config, answer),
        "criteria": verdicts,
        "results": {verdict["name"]: verdict["result"] for verdict in verdicts},
    }


def analysis_judge(
    *, endpoint: LLMEndpoint, trusted: str | None, analysis: AnalysisConfig, transcript: str
) -> dict[str, Any]:
    """What `analysis` asks of the transcript, from the analysis LLM, checked before it is
    returned: {summary, data, criteria: [{name, result, reason}], results}. Raises LLMFailure
    when the LLM fails, Unusable when its answer is not what was asked. Evals judge their
    criteria with it too (evals/)."""
    messages = analysis_prompt(config=analysis, transcript=transcript)
    reply = async_to_sync(_ask)(endpoint, trusted, messages)
    return _results(analysis, reply.content)


def _settle(analysis: SessionAnalysis, retry: bool = False, **fields: Any) -> SessionAnalysis:
    """Record the attempt's outcome, unless the analysis was asked for again meanwhile."""
    now = timezone.now()
    if retry and analysis.attempts < settings.ANALYSIS_MAX_ATTEMPTS:
        wait = settings.ANALYSIS_RETRY_BASE_SECONDS * 2 ** (analysis.attempts - 1)
        fields["next_attempt_at"] = now + timedelta(seconds=wait)
        fields["error"] += f" (attempt {analysis.attempts}; tried again)"
    for name, value in ({"finished_at": now} | fields).items():
        setattr(analysis, name, value)
    current = SessionAnalysis.objects.filter(pk=analysis.pk, run=analysis.run)
    current.update(**{"finished_at": now} | fields)
    return analysis


def analysis_run(*, analysis_id: UUID, run: int) -> SessionAnalysis | None:
    """Make the run's next attempt and record it; None when it is not due. The returned
    analysis's `next_attempt_at` says when to try again (the LLM failed in a passing way)."""
    analysis = _claim(analysis_id, run)
    if analysis is None:
        return None
    session = analysis.session
    started = time.perf_counter()
    try:
        config = _configuration(session)
        endpoint, trusted, label = analysis_llm(session=session, config=config)
        analysis.llm, analysis.agent_version_id = label, session.agent.published_version_id  # type: ignore[union-attr]
        SessionAnalysis.objects.filter(pk=analysis.pk).update(
            llm=label, agent_version_id=analysis.agent_version_id
        )
        transcript = session_transcript(session=session)
        results = analysis_judge(
            endpoint=endpoint, trusted=trusted, analysis=config.analysis, transcript=transcript
        )
    except LLMFailure as failure:
        error = f"The analysis LLM failed: {failure.error.message}"
        return _done(
            _settle(
                analysis, retry=failure.error.retryable, status=AnalysisStatus.FAILED, error=error
            )
        )
    except (Unusable, Conflict) as exc:
        error = exc.message if isinstance(exc, Conflict) else str(exc)
        return _done(_settle(analysis, status=AnalysisStatus.FAILED, error=error))
    took = round((time.perf_counter() - started) * 1000)
    return _done(
        _settle(analysis, status=AnalysisStatus.DONE, error="", duration_ms=took, **results)
    )


def _done(analysis: SessionAnalysis) -> SessionAnalysis:
    """A run that is over sends the end-of-conversation callback that waited for it."""
    session, over = analysis.session, analysis.next_attempt_at is None
    if over and session_callback_url(session=session) and session_callback_held(session=session):
        enqueue(deliver_end_of_conversation, str(session.id))  # attempt 1: made once at most
    return analysis


# The reconciler.


def _missing(now: datetime) -> list[Session]:
    """Sessions ended lately, after their agent last changed, whose agent wants an analysis,
    and that have none: their end's message never reached the broker."""
    wants = (
        Q(agent__configuration__analysis__summary_prompt__regex=r"\S")
        | Q(agent__configuration__analysis__data_schema__has_key="type")
        | Q(agent__configuration__analysis__success_criteria__0__has_key="name")
    )
    sessions = Session.objects.filter(
        wants,
        ended_at__gte=now - RECONCILE_WINDOW,
        ended_at__lt=now - RECONCILE_AFTER,
        ended_at__gt=F("agent__updated_at"),
        analysis__isnull=True,
        simulated=False,  # a test run's session is not analysed (receivers.session_ended)
    ).select_related("agent")
    return [s for s in sessions[:RERUN_MAX_SESSIONS] if analysis_wanted(session=s)]


def analyses_reconcile(*, now: datetime | None = None) -> int:
    """Queue again the analyses whose message was lost, whose retry is overdue, or whose worker
    died mid-run (up to ANALYSIS_MAX_ATTEMPTS, then failed); analyse the ended sessions that
    never got one. The number queued."""
    now = now or timezone.now()
    lost = now - RECONCILE_AFTER
    stuck = SessionAnalysis.objects.filter(
        status=AnalysisStatus.RUNNING, started_at__lt=now - RUNNING_MAX
    )
    stuck.filter(attempts__gte=settings.ANALYSIS_MAX_ATTEMPTS).update(
        status=AnalysisStatus.FAILED, error=WORKER_LOST, finished_at=now
    )
    stuck.update(status=AnalysisStatus.PENDING)  # requested before it started: queued below
    waiting = SessionAnalysis.objects.filter(
        Q(status=AnalysisStatus.PENDING, requested_at__lt=lost)
        | Q(status=AnalysisStatus.FAILED, next_attempt_at__lt=lost)
    ).values_list("id", "run")
    queued = sum(enqueue(analyse_session, str(pk), run) for pk, run in waiting)
    for session in _missing(now):
        analysis_request(session=session)
        queued += 1
    return queued
