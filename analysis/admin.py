from django.contrib import admin

from parley.admin import RecordAdmin

from .models import SessionAnalysis


@admin.register(SessionAnalysis)
class SessionAnalysisAdmin(RecordAdmin):
    """What the analysis LLM made of a session; run again from the session's page."""

    list_display = ["session", "team", "status", "llm", "attempts", "requested_at"]
    list_filter = ["status"]
    search_fields = ["session__id"]
    list_select_related = ["session", "team"]
    readonly_fields = [f.name for f in SessionAnalysis._meta.fields]
