"""The ModelAdmins: the options examples/admin.py gives celeris's admin, in Django's words.

Django's defaults otherwise: its paginator counts the rows (``COUNT(*)``) on every list page;
``BookAdminNoCount`` is the second variant, ``show_full_result_count = False`` (no second,
unfiltered count beside a search's), served at ``/admin/books/bookfast/`` through a proxy model.

Two differences, both in Django's favour: the celeris book admin also filters by ``author_id``,
which celeris shows as an id field once the authors are too many for a select, while Django's
``RelatedFieldListFilter`` would list all 10,000 authors on every list page, so it is left
out here; and ``ordering = ["id"]`` is spelled out because Django's default is ``-pk`` while
celeris's admin, with no ordering given, lists by ascending primary key.
"""

from __future__ import annotations

from django.contrib import admin

from .models import Author, Book, BookFast, Tag


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "email", "born"]
    search_fields = ["name", "email"]
    ordering = ["name"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    pass


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "author", "published", "pages", "price"]
    search_fields = ["title"]
    list_filter = ["published"]
    ordering = ["id"]
    list_per_page = 50  # celeris's default page size (Django's is 100)
    autocomplete_fields = ["author"]  # a searchable select, as celeris's foreign keys
    filter_horizontal = ["tags"]


@admin.register(BookFast)
class BookAdminNoCount(BookAdmin):
    show_full_result_count = False
