from django.urls import path

from . import views

app_name = "analysis"

urlpatterns = [
    path("sessions/<uuid:session_id>/", views.session_analyse, name="session"),
    path("agents/<uuid:agent_id>/", views.agent_analyse, name="agent"),
]
