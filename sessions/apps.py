from django.apps import AppConfig


class SessionsConfig(AppConfig):
    name = "sessions"
    # django.contrib.sessions owns the label "sessions".
    label = "conversations"
    verbose_name = "Agent sessions"
    default_auto_field = "django.db.models.BigAutoField"
