from django.contrib import admin

from parley.admin import RecordAdmin

from .models import AgentDailyStats


# Computed by the rollup, which would overwrite any change.
@admin.register(AgentDailyStats)
class AgentDailyStatsAdmin(RecordAdmin):
    list_display = ["day", "agent", "team", "sessions", "turns", "tool_calls", "llm_ttft_p50_ms"]
    list_filter = ["day", "team"]
    search_fields = ["agent__name", "team__name"]
    list_select_related = ["agent", "team"]
    date_hierarchy = "day"
