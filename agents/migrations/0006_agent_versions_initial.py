"""Every existing agent gets version 1, published: its configuration as it stands, with the
definitions of its selected tools."""

from django.db import migrations

from tools.spec import ToolSpec, auth_config_masked, headers_masked


def _tool(tool):
    document = {field: getattr(tool, field) for field in ToolSpec.model_fields}
    return document | {
        "id": str(tool.id),
        "version": 1,
        "server_url": str(tool.server_url),
        "headers": headers_masked(tool.headers or {}),
        "auth_config": auth_config_masked(tool.auth_config or {}),
    }


def first_versions(apps, schema_editor):
    Agent = apps.get_model("agents", "Agent")
    AgentVersion = apps.get_model("agents", "AgentVersion")
    Tool = apps.get_model("tools", "Tool")
    for agent in Agent.objects.filter(published_version__isnull=True).iterator():
        ids = (agent.configuration.get("tool_calling") or {}).get("selected_tool_ids") or []
        tools = Tool.objects.filter(team_id=agent.team_id, id__in=ids).order_by("name")
        version = AgentVersion.objects.create(
            agent=agent,
            number=1,
            name=agent.name,
            configuration=agent.configuration,
            tools=[_tool(tool) for tool in tools],
            source="system",
            author=agent.created_by,
            note="The configuration before versions were kept.",
            created_at=agent.updated_at,
        )
        Agent.objects.filter(pk=agent.pk).update(published_version=version)


class Migration(migrations.Migration):
    dependencies = [("agents", "0005_agent_versions"), ("tools", "0005_tool_versions_initial")]

    operations = [migrations.RunPython(first_versions, migrations.RunPython.noop)]
