"""Settings of the Django side of the admin benchmark: Django's defaults, production-style.

The database is the one ``bench/admin/seed.py`` fills (``ADMIN_BENCH_DATABASE``, a
``postgresql://`` URL); the ``books`` app maps its tables with unmanaged models. What differs
from ``django-admin startproject``'s settings: ``DEBUG`` off, persistent database connections
(``CONN_MAX_AGE``, as Django's deployment checklist advises) and no ``STATIC`` serving (the bench
loads pages, not their assets, on both sides).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

_url = urlsplit(
    os.environ.get("ADMIN_BENCH_DATABASE", "postgresql://postgres@127.0.0.1:5432/bench_admin")
)

SECRET_KEY = "bench-only-not-secret-" + "x" * 40
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.admin.django_site.urls"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "bench.admin.django_site.books",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _url.path.lstrip("/"),
        "USER": _url.username or "postgres",
        "PASSWORD": _url.password or "",
        "HOST": _url.hostname or "127.0.0.1",
        "PORT": str(_url.port or 5432),
        "CONN_MAX_AGE": 60,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
LOGGING = {"version": 1, "disable_existing_loggers": False}
