from django.urls import path

from . import views

app_name = "tools"

urlpatterns = [
    path("", views.tool_list, name="list"),
    path("new/", views.tool_create, name="create"),
    path("<uuid:tool_id>/", views.tool_detail, name="detail"),
    path("<uuid:tool_id>/edit/", views.tool_edit, name="edit"),
    path("<uuid:tool_id>/delete/", views.tool_delete, name="delete"),
    path("<uuid:tool_id>/test/", views.tool_test, name="test"),
    path("<uuid:tool_id>/calls/<uuid:execution_id>/", views.tool_execution, name="execution"),
    # The schema editor's live check, for a new tool and for an existing one (its id in the sample).
    path("check-schema/", views.tool_schema_check, name="validate"),
    path("<uuid:tool_id>/check-schema/", views.tool_schema_check, name="validate"),
]
