from django.contrib import admin
from django.http import HttpRequest

from .models import AgentDailyStats


@admin.register(AgentDailyStats)
class AgentDailyStatsAdmin(admin.ModelAdmin):
    list_display = ["day", "agent", "team", "sessions", "turns", "tool_calls", "llm_ttft_p50_ms"]
    list_filter = ["day", "team"]
    search_fields = ["agent__name", "team__name"]
    list_select_related = ["agent", "team"]
    date_hierarchy = "day"

    def has_change_permission(
        self, request: HttpRequest, obj: AgentDailyStats | None = None
    ) -> bool:
        return False  # computed by the rollup, which would overwrite any change
