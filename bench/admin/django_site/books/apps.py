from __future__ import annotations

from django.apps import AppConfig


class BooksConfig(AppConfig):
    name = "bench.admin.django_site.books"
    label = "books"
