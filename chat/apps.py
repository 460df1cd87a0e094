from django.apps import AppConfig
from django.apps import apps as django_apps
from django.db.models.signals import post_migrate


class ChatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chat"

    def ready(self):
        from chat import (
            accounts,  # noqa: F401 (connects its signal receivers)
            checks,  # noqa: F401 (registers the system checks)
        )

        post_migrate.connect(_repair_search_index, sender=self)


def _repair_search_index(sender, using, apps=None, **kwargs):
    # A later SQLite migration that alters the message table rebuilds it and drops
    # its search triggers; put them back (and refill) after every migrate that
    # leaves the search migration applied.
    from django.db import connections

    from chat import search_index

    conversation = (apps or django_apps).get_model("chat", "Conversation")
    if any(field.name == "archived" for field in conversation._meta.get_fields()):
        search_index.install(connections[using])
