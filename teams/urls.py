from django.urls import path

from . import views

app_name = "teams"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("teams/new/", views.team_create, name="create"),
    path("teams/switch/", views.team_switch, name="switch"),
    path("team/", views.team_detail, name="team"),
]
