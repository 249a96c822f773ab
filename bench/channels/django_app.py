"""The fan-out app on Django Channels with channels_redis, as Channels' tutorial writes it.

``POST /publish`` (an async Django view) does ``group_send`` of its JSON body to the group
every ``/ws`` consumer (``AsyncWebsocketConsumer``) joined on connect; each consumer sends it
on as a text frame. ``BENCH_CHANNEL_LAYER`` picks the layer: ``redis``
(``RedisChannelLayer``, the default one) or ``pubsub`` (``RedisPubSubChannelLayer``), both
with their default options on ``BENCH_REDIS_URL``. Served by daphne or uvicorn:

    daphne -p 8000 bench.channels.django_app:application
"""

from __future__ import annotations

import json
import os

import django
from django.conf import settings

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
LAYERS = {
    "redis": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
GROUP = "bench-fanout"

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-channels-not-secret",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["daphne", "channels"],
    MIDDLEWARE=[],
    ASGI_APPLICATION=f"{__name__}.application",
    CHANNEL_LAYERS={
        "default": {
            "BACKEND": LAYERS[os.environ.get("BENCH_CHANNEL_LAYER", "redis")],
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "bench-fanout-django"},
        }
    },
    LOGGING_CONFIG=None,
)
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


class Subscriber(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Join the group on connect; relay every group message as a text frame."""

    async def connect(self) -> None:
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def bench_message(self, event: dict[str, str]) -> None:
        await self.send(text_data=event["text"])


def plaintext(request: HttpRequest) -> HttpResponse:
    return HttpResponse("OK", content_type="text/plain")


@csrf_exempt
async def publish(request: HttpRequest) -> JsonResponse:
    text = request.body.decode()
    json.loads(text)  # NOTE: validated once, as celeris's request.json() does
    layer = get_channel_layer()
    assert layer is not None
    # NOTE: the JSON text goes to every consumer as it came (no json.dumps per consumer, as
    # Channels' tutorial does): the cheapest way Channels has.
    await layer.group_send(GROUP, {"type": "bench.message", "text": text})
    return JsonResponse({"id": None})


urlpatterns = [path("plaintext", plaintext), path("publish", publish)]

application = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),
        "websocket": URLRouter([path("ws", Subscriber.as_asgi())]),
    }
)
