from django.contrib import admin

from .models import Provider


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ["kind", "team", "base_url", "updated_at"]
    list_filter = ["kind", "team"]
    search_fields = ["kind", "base_url", "team__name"]
    list_select_related = ["team"]
    # The key is set on the team's Providers page, which never shows it; never shown here.
    exclude = ["credentials"]
    readonly_fields = ["id", "created_by", "created_at", "updated_at"]
