from django.urls import path

from . import views

app_name = "agents"

urlpatterns = [
    path("", views.agent_list, name="list"),
    path("new/", views.agent_create, name="create"),
    path("validate/", views.agent_validate, name="validate"),
    path("<uuid:agent_id>/", views.agent_detail, name="detail"),
    path("<uuid:agent_id>/edit/", views.agent_edit, name="edit"),
    path("<uuid:agent_id>/publish/", views.agent_publish, name="publish"),
    path("<uuid:agent_id>/duplicate/", views.agent_duplicate, name="duplicate"),
    path("<uuid:agent_id>/delete/", views.agent_delete, name="delete"),
    path("<uuid:agent_id>/history/", views.agent_history, name="history"),
    path(
        "<uuid:agent_id>/versions/<int:number>/publish/",
        views.agent_version_publish,
        name="version_publish",
    ),
    path(
        "<uuid:agent_id>/versions/<int:number>/restore/",
        views.agent_version_restore,
        name="version_restore",
    ),
]
