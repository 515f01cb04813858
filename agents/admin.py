from django.contrib import admin

from .models import Agent


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "team",
        "publish_status",
        "kind",
        "expires_at",
        "created_at",
        "updated_at",
    ]
    list_filter = ["publish_status", "kind", "team"]
    search_fields = ["name", "id", "team__name"]
    list_select_related = ["team"]
    readonly_fields = ["id", "created_by", "created_at", "updated_at"]
    date_hierarchy = "created_at"
