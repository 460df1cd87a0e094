from django.apps import AppConfig


class ChatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chat"

    def ready(self):
        from chat import (
            accounts,  # noqa: F401 (connects its signal receivers)
            checks,  # noqa: F401 (registers the system checks)
        )
