from django.apps import AppConfig


class AgoraConfig(AppConfig):
    name = "agora"
    label = "agora"
    verbose_name = "Agora Conversational AI"
    default_auto_field = "django.db.models.BigAutoField"
