from django.contrib import admin

from parley.admin import RecordAdmin

from .models import ActivityEntry


@admin.register(ActivityEntry)
class ActivityEntryAdmin(RecordAdmin):
    list_display = ["created_at", "team", "actor", "action", "target_type", "target_label"]
    list_filter = ["action", "target_type", "team"]
    search_fields = ["target_label", "target_id", "actor__email", "team__name"]
    list_select_related = ["team", "actor", "api_key"]
    date_hierarchy = "created_at"
