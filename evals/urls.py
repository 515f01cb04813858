from django.urls import path

from . import views

app_name = "evals"

urlpatterns = [
    path("agents/<uuid:agent_id>/", views.suite, name="suite"),
    path("agents/<uuid:agent_id>/new/", views.scenario_create, name="scenario_create"),
    path("agents/<uuid:agent_id>/run/", views.run_start, name="run_start"),
    path("scenarios/<uuid:scenario_id>/", views.scenario_edit, name="scenario_edit"),
    path("scenarios/<uuid:scenario_id>/delete/", views.scenario_delete, name="scenario_delete"),
    path("runs/<uuid:run_id>/", views.run_detail, name="run"),
    path("runs/<uuid:run_id>/compare/", views.run_compare, name="compare"),
]
