"""ASGI entry point served by Daphne: HTTP through Django, websockets through Channels.

The client's address comes from X-Forwarded-For only when the configured proxy sent it
(portal/client_address.py). HTTP bodies pass a size limit before Django reads them (and the ops
endpoints accept any Host); under Daphne the same limit is also enforced where the bytes arrive
(portal/daphne_body_limit.py). A request's synchronous part runs on one of a few long-lived
threads, which keep their database connections (portal/sync_threads.py).
Websockets pass the origin check (only the portal's own hosts may open one) and carry the
session user, so the consumer knows who listens. The one exception is the device socket of
monitors (/ws/monitors/<id>/device): headless venue clients send no Origin and have no session,
and a device token in the first message authenticates them instead.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (Django must be set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from portal import daphne_body_limit  # noqa: E402
from portal.client_address import TrustedProxyHeaders  # noqa: E402
from portal.middleware import BodySizeLimit, LoadShedder, OpsAnyHost  # noqa: E402
from portal.sync_threads import PooledSyncThreads  # noqa: E402
from recognition.monitors.routing import websocket_urlpatterns as device_urlpatterns  # noqa: E402
from recognition.routing import websocket_urlpatterns  # noqa: E402

daphne_body_limit.install()

DEVICE_PREFIX = "/ws/monitors/"
page_sockets = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
device_sockets = URLRouter(device_urlpatterns)


async def websockets(scope, receive, send):
    """Device sockets by token; every other socket by origin and session."""
    sockets = device_sockets if scope["path"].startswith(DEVICE_PREFIX) else page_sockets
    return await sockets(scope, receive, send)


application = TrustedProxyHeaders(
    ProtocolTypeRouter(
        {
            "http": OpsAnyHost(
                LoadShedder(BodySizeLimit(PooledSyncThreads(django_asgi_app, settings.EARSHOT_SYNC_THREADS)))
            ),
            "websocket": websockets,
        }
    )
)
