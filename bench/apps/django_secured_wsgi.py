"""The Django secured page as a WSGI application, for gunicorn (Django's classic deployment)."""

from __future__ import annotations

from django.core.wsgi import get_wsgi_application

from bench.apps import django_secured  # noqa: F401  (configures Django and its URLs)

app = get_wsgi_application()
