from django.urls import path

from . import views

app_name = "widget"

urlpatterns = [
    path("live-avatar.js", views.live_avatar_script, name="script"),
]
