from django.db.models import QuerySet

from teams.models import Team

from .models import AgentLink, IwyAccount, MintedAgent, SyncState, ToolLink


def account_get(*, team: Team) -> IwyAccount | None:
    return IwyAccount.objects.filter(team=team).first()


def agent_links(*, team: Team) -> QuerySet[AgentLink]:
    """Drifted and failed first: they are the ones a person has to look at."""
    return _ordered(AgentLink.objects.filter(team=team).select_related("agent"))


def tool_links(*, team: Team) -> QuerySet[ToolLink]:
    return _ordered(ToolLink.objects.filter(team=team).select_related("tool"))


def _ordered(links: QuerySet) -> QuerySet:
    from django.db.models import Case, IntegerField, Value, When

    rank = Case(
        When(state=SyncState.DRIFT, then=Value(0)),
        When(state=SyncState.ERROR, then=Value(1)),
        When(state=SyncState.PENDING, then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )
    return links.annotate(rank=rank).order_by("rank", "-synced_at")


def minted_list(*, team: Team) -> QuerySet[MintedAgent]:
    return MintedAgent.objects.filter(team=team).order_by("-created_at")
