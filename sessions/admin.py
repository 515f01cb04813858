from django.contrib import admin
from django.http import HttpRequest

from parley.admin import RecordAdmin

from .models import CallbackDelivery, Session, SessionEvent


class SessionEventInline(admin.TabularInline):
    model = SessionEvent
    extra = 0
    readonly_fields = ("seq", "kind", "data", "created_at")
    fields = readonly_fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Session | None = None) -> bool:
        return False  # the timeline is append-only, written by the runtime


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ["id", "agent_name", "team", "type", "status", "started_at", "ended_at"]
    list_filter = ["type", "status", "team"]
    search_fields = ["id", "agent_name", "team__name", "end_reason"]
    list_select_related = ["team"]
    readonly_fields = ["id", "team", "agent", "agent_name", "started_at", "last_event_seq"]
    date_hierarchy = "started_at"
    inlines = [SessionEventInline]


@admin.register(SessionEvent)
class SessionEventAdmin(RecordAdmin):
    list_display = ["session", "seq", "kind", "created_at"]
    list_filter = ["kind"]
    search_fields = ["session__id"]
    list_select_related = ["session"]
    readonly_fields = ["session", "seq", "kind", "data", "created_at"]


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(RecordAdmin):
    """A record of what was sent."""

    list_display = ["session", "attempt", "outcome", "status_code", "url", "created_at"]
    list_filter = ["outcome"]
    search_fields = ["session__id", "url"]
    list_select_related = ["session"]
    readonly_fields = [f.name for f in CallbackDelivery._meta.fields]
