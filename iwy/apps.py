from django.apps import AppConfig


class IwyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "iwy"
    label = "iwy"
    verbose_name = "iwy account sync"
