from django.apps import AppConfig


class LocalLLMConfig(AppConfig):
    name = "localllm"
    verbose_name = "Local LLM"
