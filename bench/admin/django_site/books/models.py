"""Unmanaged models on the tables of examples/admin.py (which bench/admin/seed.py creates)."""

from __future__ import annotations

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)
    email = models.CharField(max_length=254, null=True, blank=True)
    born = models.DateField(null=True, blank=True)
    bio = models.TextField(blank=True, default="")

    class Meta:
        managed = False
        db_table = "library_author"

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    class Meta:
        managed = False
        db_table = "library_tag"

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)
    published = models.BooleanField(default=False)
    pages = models.IntegerField(null=True, blank=True)
    price = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    # NOTE: Django's implicit through model has an id column the table lacks; the bench only
    # reads the relation (it opens the change form, never saves it).
    tags = models.ManyToManyField(Tag, db_table="library_book_tag", blank=True)

    class Meta:
        managed = False
        db_table = "library_book"

    def __str__(self) -> str:
        return self.title


class BookFast(Book):
    """The same table, for the ``show_full_result_count = False`` variant of its admin."""

    class Meta:
        proxy = True
        verbose_name = "book (no full count)"
