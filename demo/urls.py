from django.urls import path

from . import views

# Before django.contrib.auth.urls in config/urls.py, so that this page is the one at the address.
urlpatterns = [
    path("accounts/login/", views.sign_in, name="login"),
]
