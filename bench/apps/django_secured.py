"""Django's secured page, as its documentation writes one (ASGI; see django_secured_wsgi).

``SessionMiddleware`` on the signed-cookie engine, ``CsrfViewMiddleware`` with
``{% csrf_token %}`` in a Django template, ``SecurityMiddleware`` (nosniff, Referrer-Policy,
COOP) and ``XFrameOptionsMiddleware`` (DENY) with their defaults, django-csp for the CSP
(Django 5.2 has none of its own). Plain (sync) views, Django's default; Django has no
dependency injection, so the view calls the site provider itself.
"""

from __future__ import annotations

import django
from csp.constants import SELF
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET, require_http_methods

from bench.apps.secured import ANONYMOUS, SECRET_KEY, SECURED_TEMPLATES, get_site
from bench.apps.sql import HELLO

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY=SECRET_KEY,
    MIDDLEWARE=[
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "csp.middleware.CSPMiddleware",
    ],
    INSTALLED_APPS=["django.contrib.sessions", "csp"],
    SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
    CONTENT_SECURITY_POLICY={"DIRECTIVES": {"default-src": [SELF]}},
    USE_TZ=True,
    TEMPLATES=[
        {"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [SECURED_TEMPLATES]}
    ],
)
django.setup()


@require_GET
def plaintext(request: HttpRequest) -> HttpResponse:
    return HttpResponse(HELLO, content_type="text/plain")


@require_GET
def login(request: HttpRequest) -> HttpResponse:
    request.session["user"] = request.GET.get("user", ANONYMOUS)
    return HttpResponse("signed in", content_type="text/plain")


@require_http_methods(["GET", "POST"])
def secured(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return HttpResponseRedirect("/secured", status=303)
    user = request.session.get("user", ANONYMOUS)
    return render(request, "django.html", {"site": get_site(), "user": user})


urlpatterns = [
    path("plaintext", plaintext),
    path("login", login),
    path("secured", secured),
]

app = get_asgi_application()
