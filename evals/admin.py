from django.contrib import admin

from parley.admin import RecordAdmin

from .models import EvalResult, EvalRun, EvalScenario


@admin.register(EvalScenario)
class EvalScenarioAdmin(admin.ModelAdmin):
    """A scenario of an agent's test suite; edited on the agent's Evals page."""

    list_display = ["name", "agent", "team", "updated_at"]
    search_fields = ["name", "agent__name"]
    list_select_related = ["agent", "team"]
    raw_id_fields = ["agent", "team", "created_by"]


@admin.register(EvalRun)
class EvalRunAdmin(RecordAdmin):
    """A run of a suite: a record, started from the dashboard, the API or the command line."""

    list_display = ["agent", "version_number", "status", "total", "passed", "failed", "errors"]
    list_filter = ["status"]
    search_fields = ["agent__name"]
    list_select_related = ["agent"]
    readonly_fields = [f.name for f in EvalRun._meta.fields]


@admin.register(EvalResult)
class EvalResultAdmin(RecordAdmin):
    list_display = ["scenario_name", "trial", "status", "run", "turns"]
    list_filter = ["status"]
    search_fields = ["scenario_name"]
    list_select_related = ["run"]
    readonly_fields = [f.name for f in EvalResult._meta.fields]
