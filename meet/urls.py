from django.urls import path

from . import views

app_name = "meet"

urlpatterns = [
    # A string, not <uuid:…>: a mistyped link gets the hosted 404 page, not Django's bare one.
    path("<str:agent_id>", views.meet_agent, name="agent"),
]
