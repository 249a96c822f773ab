"""The ModelAdmins: the options examples/admin.py gives celeris's admin, in Django's words.

Django's defaults otherwise: its paginator counts the rows (``COUNT(*)``) on every list page;
``BookAdminNoCount`` is the second variant, ``show_full_result_count = False``, served at
``/admin/books/bookfast/`` through a proxy model.
"""

from __future__ import annotations

from django.contrib import admin

from .models import Author, Book, BookFast, Tag


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "born"]
    search_fields = ["name", "email"]
    ordering = ["-id"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ["title", "author", "published", "pages", "in_print"]
    search_fields = ["title"]
    list_filter = ["in_print"]
    ordering = ["-id"]
    list_per_page = 50
    autocomplete_fields = ["author"]  # a searchable select, as celeris's foreign keys
    filter_horizontal = ["tags"]


@admin.register(BookFast)
class BookAdminNoCount(BookAdmin):
    show_full_result_count = False
