from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
    verbose_name = "Demo workspace"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tools.in_process import in_process_register

        from .order_status import HOST, demo_reply

        in_process_register(host=HOST, answerer=demo_reply)
