"""ASGI entry point served by Daphne: HTTP through Django, websockets through Channels.

HTTP bodies pass a size limit before Django reads them (and the ops endpoints accept any Host);
under Daphne the same limit is also enforced where the bytes arrive (portal/daphne_body_limit.py).
Websockets pass the origin check (only the portal's own hosts may open one) and carry the
session user, so the consumer knows who listens.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (Django must be set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from portal import daphne_body_limit  # noqa: E402
from portal.middleware import BodySizeLimit, LoadShedder, OpsAnyHost  # noqa: E402
from recognition.routing import websocket_urlpatterns  # noqa: E402

daphne_body_limit.install()

application = ProtocolTypeRouter(
    {
        "http": OpsAnyHost(LoadShedder(BodySizeLimit(django_asgi_app))),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
