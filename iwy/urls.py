from django.urls import path

from . import views

app_name = "iwy"

urlpatterns = [
    path("", views.account, name="account"),
    path("account/", views.account_save, name="account_save"),
    path("account/delete/", views.account_delete, name="account_delete"),
    path("agents/<uuid:object_id>/preview/", views.preview, name="preview"),
    path("<str:kind>/<uuid:object_id>/publish/", views.publish, name="publish"),
    path("<str:kind>/<uuid:object_id>/resolve/", views.resolve, name="resolve"),
    path("<str:kind>/<uuid:object_id>/pull/", views.pull, name="pull"),
    path("<str:kind>/<uuid:object_id>/unlink/", views.unlink, name="unlink"),
]
