"""Every existing tool gets version 1: its definition as it stands."""

from django.db import migrations

from tools.spec import ToolSpec, auth_config_masked, headers_masked


def _definition(tool):
    document = {field: getattr(tool, field) for field in ToolSpec.model_fields}
    return document | {
        "server_url": str(tool.server_url),
        "headers": headers_masked(tool.headers or {}),
        "auth_config": auth_config_masked(tool.auth_config or {}),
    }


def first_versions(apps, schema_editor):
    Tool = apps.get_model("tools", "Tool")
    ToolVersion = apps.get_model("tools", "ToolVersion")
    for tool in Tool.objects.filter(versions__isnull=True).iterator():
        ToolVersion.objects.create(
            tool=tool,
            number=1,
            definition=_definition(tool),
            source="system",
            author=tool.created_by,
            created_at=tool.updated_at,
        )


class Migration(migrations.Migration):
    dependencies = [("tools", "0004_tool_versions")]

    operations = [migrations.RunPython(first_versions, migrations.RunPython.noop)]
