from django.contrib import admin

from parley.admin import RecordAdmin

from .models import Tool, ToolExecution


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "team",
        "method",
        "server_url",
        "is_async",
        "timeout_seconds",
        "updated_at",
    ]
    list_filter = ["method", "is_async", "strict_params", "team"]
    search_fields = ["name", "description", "server_url", "team__name"]
    list_select_related = ["team"]
    # Secrets are edited through the API or dashboard, which mask them; never shown here.
    exclude = ["headers", "auth_config"]
    readonly_fields = ["id", "created_by", "created_at", "updated_at"]


@admin.register(ToolExecution)
class ToolExecutionAdmin(RecordAdmin):
    """Records of tool calls: read-only, as the services wrote them (secrets already redacted)."""

    list_display = ["tool_name", "team", "source", "outcome", "status_code", "duration_ms"]
    list_filter = ["outcome", "source", "is_async", "team"]
    search_fields = ["tool_name", "error", "team__name"]
    list_select_related = ["team"]
    date_hierarchy = "started_at"
