from django.urls import path

from . import views

app_name = "agora"

urlpatterns = [
    path("", views.agora_settings, name="settings"),
    path("delete/", views.agora_delete, name="delete"),
    path("sessions/<uuid:session_id>/speak/", views.session_speak, name="speak"),
    path("sessions/<uuid:session_id>/interrupt/", views.session_interrupt, name="interrupt"),
]
