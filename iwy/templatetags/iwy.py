"""{% iwy_panel agent %} / {% iwy_panel tool %}: the iwy panel of an agent's or a tool's page.

A tag rather than context from agents' and tools' views, so those apps need not know iwy."""

from typing import Any

from django import template
from django.conf import settings
from django.urls import reverse

from agents.models import Agent, AgentKind
from iwy import documents, services
from iwy.models import AgentLink, IwyAccount, Link, ToolLink
from tools.models import Tool

register = template.Library()


def _link(target: Agent | Tool) -> Link | None:
    if isinstance(target, Agent):
        return AgentLink.objects.filter(agent=target).first()
    return ToolLink.objects.filter(tool=target).first()


@register.inclusion_tag("iwy/_panel.html", takes_context=True)
def iwy_panel(
    context: template.Context, target: Agent | Tool, wide: bool = False
) -> dict[str, Any]:
    is_agent = isinstance(target, Agent)
    link = _link(target)
    membership = context["membership"]
    single_use = isinstance(target, Agent) and target.kind != AgentKind.PERMANENT
    unpublished = []
    if isinstance(target, Agent) and link is None and not single_use:
        unpublished = documents.tools_not_on_iwy(target.team_id, target.configuration)
    return {
        "csrf_token": context.get("csrf_token"),
        "target": target,
        "kind": "agents" if is_agent else "tools",
        "noun": "agent" if is_agent else "tool",
        "wide": wide,
        "link": link,
        "account": IwyAccount.objects.filter(team_id=target.team_id).exists(),
        "can_write": membership.can_write and not single_use,
        "single_use": single_use,
        "unpublished_tools": unpublished,
        "diff": services.link_diff(link=link) if link and link.drifted else [],
        "preview_url": reverse("iwy:preview", args=[target.pk]) if is_agent and link else "",
        "widget_url": settings.IWY_WIDGET_URL,
    }
