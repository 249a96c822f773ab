"""Unmanaged models on the tables ``bench/admin/seed.py`` creates (those of examples/admin.py)."""

from __future__ import annotations

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=200)
    email = models.CharField(max_length=254)
    born = models.DateField(null=True, blank=True)

    class Meta:
        managed = False
        db_table = "author"

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    class Meta:
        managed = False
        db_table = "tag"

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=300)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)
    published = models.DateField(null=True, blank=True)
    pages = models.IntegerField(default=0)
    in_print = models.BooleanField(default=True)
    created = models.DateTimeField()
    # NOTE: only read here (the bench opens the change form, never saves it)
    tags = models.ManyToManyField(Tag, db_table="book_tag", blank=True)

    class Meta:
        managed = False
        db_table = "book"

    def __str__(self) -> str:
        return self.title


class BookFast(Book):
    """The same table, for the ``show_full_result_count = False`` variant of its admin."""

    class Meta:
        proxy = True
        verbose_name = "book (no full count)"
