from typing import Any

from sessions.models import Session

from .models import SessionAnalysis


def analysis_of(*, session: Session) -> SessionAnalysis | None:
    return (
        SessionAnalysis.objects.select_related("agent_version")
        .defer("agent_version__configuration", "agent_version__tools")
        .filter(session=session)
        .first()
    )


def analysis_document(*, session: Session) -> dict[str, Any] | None:
    analysis = analysis_of(session=session)
    return analysis.as_document() if analysis is not None else None
