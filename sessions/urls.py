from django.urls import path

from . import views

app_name = "conversations"

urlpatterns = [
    path("", views.session_list, name="list"),
    path("<uuid:session_id>/", views.session_detail, name="detail"),
    path("<uuid:session_id>/timeline/", views.session_timeline, name="timeline"),
]
