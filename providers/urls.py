from django.urls import path

from . import views

app_name = "providers"

urlpatterns = [
    path("", views.provider_list, name="list"),
    path("<slug:kind>/", views.provider_save, name="save"),
    path("<slug:kind>/delete/", views.provider_delete, name="delete"),
]
