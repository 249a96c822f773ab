"""Django (ASGI) in one module: async views, its own template engine, asyncpg for the data."""

from __future__ import annotations

import json

import django
import msgspec
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import engines
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from bench.apps import pg
from bench.apps.models import USER_DECODER
from bench.apps.sql import HELLO, TEMPLATES, query_count

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="bench-not-secret",
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    USE_TZ=True,
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [TEMPLATES]}],
)
django.setup()
_FORTUNES = (TEMPLATES / "fortunes.html").read_text()
fortunes_template = engines["django"].from_string(_FORTUNES)


@require_GET
async def plaintext(request: HttpRequest) -> HttpResponse:
    return HttpResponse(HELLO, content_type="text/plain")


@require_GET
async def json_test(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"message": HELLO})


@require_GET
async def item(request: HttpRequest, item_id: int) -> HttpResponse:
    try:
        limit = int(request.GET.get("limit", "10"))
    except ValueError:
        return JsonResponse({"detail": "limit must be an integer"}, status=422)
    if not 1 <= limit <= 100:
        return JsonResponse({"detail": "limit must be in 1..100"}, status=422)
    return JsonResponse({"item_id": item_id, "q": request.GET.get("q"), "limit": limit})


@csrf_exempt
@require_POST
async def create_user(request: HttpRequest) -> HttpResponse:
    try:
        user = USER_DECODER.decode(request.body)
    except msgspec.DecodeError as exc:
        return JsonResponse({"detail": str(exc)}, status=422)
    return HttpResponse(msgspec.json.encode(user), content_type="application/json")


@require_GET
async def db(request: HttpRequest) -> HttpResponse:
    return JsonResponse(await pg.single_query())


@require_GET
async def queries(request: HttpRequest) -> HttpResponse:
    worlds = await pg.multiple_queries(query_count(request.GET.get("queries")))
    return HttpResponse(json.dumps(worlds), content_type="application/json")


@require_GET
async def fortunes(request: HttpRequest) -> HttpResponse:
    rows = [{"id": i, "message": m} for i, m in await pg.fortunes()]
    return HttpResponse(fortunes_template.render({"fortunes": rows}))


@require_GET
async def updates(request: HttpRequest) -> HttpResponse:
    worlds = await pg.updates(query_count(request.GET.get("queries")))
    return HttpResponse(json.dumps(worlds), content_type="application/json")


urlpatterns = [
    path("plaintext", plaintext),
    path("json", json_test),
    path("items/<int:item_id>", item),
    path("users", create_user),
    path("db", db),
    path("queries", queries),
    path("fortunes", fortunes),
    path("updates", updates),
]

app = get_asgi_application()
