"""``ModelAdmin`` and ``InlineAdmin``: how one model appears in the admin, as plain class options."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from celeris.admin.introspect import ModelInfo, inspect_model

__all__ = ["InlineAdmin", "ModelAdmin", "action"]

F = TypeVar("F", bound=Callable[..., Any])


def action(label: str | None = None, *, permission: str = "change") -> Callable[[F], F]:
    """Mark a ``ModelAdmin`` method as a bulk action: ``async def publish(self, session, rows)``."""

    def mark(function: F) -> F:
        function.admin_label = label or function.__name__.replace("_", " ").capitalize()  # type: ignore[attr-defined]
        function.admin_permission = permission  # type: ignore[attr-defined]
        return function

    return mark


class InlineAdmin:
    """Related rows edited on their parent's form: ``inlines = [BookInline]``.

    ``relationship`` names the parent's one-to-many relationship (found from ``model`` when
    there is exactly one); ``fields`` the child's columns shown (default: all but keys).
    """

    model: ClassVar[type[Any] | None] = None
    relationship: ClassVar[str | None] = None
    fields: ClassVar[Sequence[str] | None] = None
    extra: ClassVar[int] = 1
    max_rows: ClassVar[int] = 100


class ModelAdmin:
    """The options of one model's pages; every option has a sensible default."""

    #: Columns of the list page (default: the primary key and up to five more columns).
    list_display: ClassVar[Sequence[str] | None] = None
    #: Text columns searched with a case-insensitive "contains".
    search_fields: ClassVar[Sequence[str]] = ()
    #: Columns offered as filters in the side bar (booleans, choices, foreign keys, values).
    list_filter: ClassVar[Sequence[str]] = ()
    #: The default sort, ``"-created"`` for descending; the primary key always ends it.
    ordering: ClassVar[Sequence[str]] = ()
    #: Shown on the form but never changed through it.
    readonly_fields: ClassVar[Sequence[str]] = ()
    #: Never shown nor changed (``hidden_fields`` is the same option).
    exclude: ClassVar[Sequence[str]] = ()
    hidden_fields: ClassVar[Sequence[str]] = ()
    #: Field name -> widget: text textarea number checkbox select date datetime time
    #: email url password hidden raw_id color.
    widgets: ClassVar[dict[str, str]] = {}
    #: Names of methods decorated with ``@action`` (``delete`` is built in).
    actions: ClassVar[Sequence[str]] = ()
    inlines: ClassVar[Sequence[type[InlineAdmin]]] = ()
    list_per_page: ClassVar[int] = 50
    #: The name in URLs and permissions (``<slug>.view``); default: the table name.
    slug: ClassVar[str | None] = None
    label: ClassVar[str | None] = None
    label_plural: ClassVar[str | None] = None

    def __init__(self, model: type[Any], info: ModelInfo | None = None) -> None:
        self.model = model
        self.info = info if info is not None else inspect_model(model)
        self.name = self.slug or self.info.table.name
        self.verbose = self.label or model.__name__
        self.verbose_plural = self.label_plural or f"{self.verbose}s"

    def hidden(self) -> set[str]:
        """Return the names never shown."""
        return set(self.exclude) | set(self.hidden_fields)

    def columns(self) -> list[str]:
        """Return the list page's default columns."""
        if self.list_display:
            return list(self.list_display)
        hidden = self.hidden()
        names = [n for n in self.info.column_names if n not in hidden]
        pk = self.info.pk.name
        rest = [
            n
            for n in names
            if n != pk and self.info.fields[n].kind not in ("text", "json", "binary")
        ]
        return [pk, *rest[:5]]

    def form_fields(self) -> list[str]:
        """Return the form's fields: every column and many-to-many but hidden ones and the key."""
        hidden = self.hidden()
        names = []
        for name, info in self.info.fields.items():
            if name in hidden or (info.primary_key and info.autoincrement):
                continue
            names.append(name)
        return names

    def get_query(self, request: Any, statement: Any) -> Any:
        """Restrict the rows this request may see (override: ``statement.where(...)``)."""
        return statement

    def str_of(self, obj: Any) -> str:
        """Return how one row is named in titles, selects and the audit log."""
        for name in ("name", "title", "email", "label", "username"):
            value = getattr(obj, name, None)
            if isinstance(value, str) and value:
                return value
        return f"{self.verbose} {getattr(obj, self.info.pk.name)}"
