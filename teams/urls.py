from django.urls import path

from . import views

app_name = "teams"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("signup/<str:token>/", views.signup_confirm, name="signup_confirm"),
    path("teams/new/", views.team_create, name="create"),
    path("teams/switch/", views.team_switch, name="switch"),
    path("team/", views.team_detail, name="team"),
    path("team/members/<int:membership_id>/role/", views.membership_role, name="member_role"),
    path("team/members/<int:membership_id>/remove/", views.membership_remove, name="member_remove"),
    path("team/invitations/", views.invitation_create, name="invitation_create"),
    path(
        "team/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("team/api-keys/", views.api_key_create, name="api_key_create"),
    path("team/api-keys/<int:api_key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation"),
]
