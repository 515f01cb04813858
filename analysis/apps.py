from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    name = "analysis"
    verbose_name = "Post-call analysis"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The sessions app never imports this one: it says when a session ends, and this
        # app listens.
        from sessions.signals import callback_composing, session_ended

        from . import receivers

        session_ended.connect(receivers.session_ended, dispatch_uid="analysis.session_ended")
        callback_composing.connect(
            receivers.callback_composing, dispatch_uid="analysis.callback_composing"
        )
