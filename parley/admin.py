"""What the admins of several apps share."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


class RecordAdmin(admin.ModelAdmin):
    """An admin for records Parley writes as things happen (timeline events, tool calls,
    callback attempts, activity, daily figures): they can be read, never added or edited here,
    as a hand-made row would claim something that did not happen."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
