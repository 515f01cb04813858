"""/v1: analysing sessions again. Each session's analysis is part of the session's own output
(GET /v1/sessions, /v1/sessions/{id})."""

from uuid import UUID

from ninja import Router, Status

from agents.selectors import agent_get
from sessions.access import session_for_caller
from teams.auth import WRITE, ApiRequest

from .schemas import AnalysisOut, QueuedOut, RangeIn
from .services import analyses_request, analysis_request

router = Router(tags=["Analysis"])


@router.post(
    "/sessions/{session_id}/analysis",
    response={202: AnalysisOut},
    auth=WRITE,
    operation_id="session_analyse",
)
def session_analyse(request: ApiRequest, session_id: UUID) -> Status:
    """Analyse the ended session again with its agent's current analysis settings, replacing
    its analysis; it runs in the background (`status` pending). 409 when the session has not
    ended or the agent has nothing to analyse."""
    session = session_for_caller(session_id=session_id, team=request.auth.team, token=None)
    analysis = analysis_request(session=session)
    return Status(202, analysis.as_document())


@router.post(
    "/agents/{agent_id}/analysis",
    response={202: QueuedOut},
    auth=WRITE,
    operation_id="agent_sessions_analyse",
)
def agent_sessions_analyse(request: ApiRequest, agent_id: UUID, payload: RangeIn) -> Status:
    """Analyse again every ended session of the agent started in a range of days (`from` and
    `to` both included, at most 1,000 sessions), e.g. after changing a criterion."""
    agent = agent_get(team=request.auth.team, agent_id=agent_id)
    queued = analyses_request(agent=agent, start=payload.start, end=payload.end)
    return Status(202, {"queued": queued})
