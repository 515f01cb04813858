from django.urls import path

from . import views

app_name = "widget"

urlpatterns = [
    path("live-avatar.js", views.live_avatar_script, name="script"),
    path("agents/<str:agent_id>", views.agent_card, name="agent_card"),
]
