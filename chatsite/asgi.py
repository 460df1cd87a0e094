"""ASGI entry point: HTTP through Django, websockets through Channels."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from chat.providers import default_model  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402

# Import and build the model client now: its first use costs a second of CPU
# (the SDK's imports) that would otherwise land on the first person's answer.
default_model()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

# What was imported and built so far lives as long as the process: freezing it
# keeps the collector from walking it again on every full collection that
# streaming's short-lived objects set off.
gc.freeze()
