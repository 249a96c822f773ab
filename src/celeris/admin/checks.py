"""Start-up checks of admin options, each with a stable id and the fix (Django's ``admin.E108``)."""

from __future__ import annotations

from typing import Any

from celeris.admin.forms import WIDGETS
from celeris.admin.listing import m2m_link
from celeris.admin.options import InlineAdmin, ModelAdmin

__all__ = ["RESERVED", "AdminConfigError", "check_model_admin", "inline_relation"]

#: Paths of the admin's own pages: no model may take them as its slug.
RESERVED = frozenset({"static", "log", "tasks", "jobs", "tickets", "users", "groups", "search"})


class AdminConfigError(RuntimeError):
    """A mistake in the admin's configuration, found at start-up; the message says the fix."""


def _where(admin: ModelAdmin) -> str:
    return f"{type(admin).__name__} (for {admin.model.__name__})"


def _known(admin: ModelAdmin) -> str:
    return ", ".join(sorted(admin.info.fields))


def inline_relation(admin: ModelAdmin, inline: type[InlineAdmin]) -> str | None:
    """Return the parent's one-to-many relationship an inline edits, or None."""
    relations = admin.info.relations
    if inline.relationship is not None:
        relation = relations.get(inline.relationship)
        return (
            inline.relationship if relation is not None and relation.direction == "many" else None
        )
    found = [
        r.name for r in relations.values() if r.direction == "many" and r.target is inline.model
    ]
    return found[0] if len(found) == 1 else None


def check_model_admin(admin: ModelAdmin, taken: set[str]) -> list[str]:
    """Return the problems of one ``ModelAdmin`` as ``"admin.Exxx: ... ; fix"`` lines."""
    errors: list[str] = []
    where = _where(admin)
    fields = admin.info.fields
    relations = admin.info.relations

    def column(option: str, code: str, names: Any, *, allow_methods: bool = False) -> None:
        if isinstance(names, str):
            errors.append(f"{code}: {where}.{option} is a string; make it a list: [{names!r}]")
            return
        for raw in names:
            name = raw[1:] if option == "ordering" and raw.startswith("-") else raw
            if name in fields or (option == "list_display" and name in relations):
                continue
            if allow_methods and callable(getattr(admin, name, None)):
                continue
            errors.append(
                f"{code}: {where}.{option} names {raw!r}, which is not a column of "
                f"{admin.model.__name__}; use one of: {_known(admin)}"
            )

    column("list_display", "admin.E108", admin.list_display or (), allow_methods=True)
    for name in admin.list_display or ():
        info = fields.get(name)
        if info is not None and info.kind == "m2m" and m2m_link(admin.model, name) is None:
            errors.append(
                f"admin.E109: {where}.list_display names {name!r}, a many-to-many field not "
                "through an association table with one column to each side; list a ModelAdmin "
                "method that names the related rows instead"
            )
    column("search_fields", "admin.E126", admin.search_fields)
    for name in admin.search_fields:
        info = fields.get(name)
        if info is not None and info.kind not in ("str", "text"):
            errors.append(
                f"admin.E127: {where}.search_fields names {name!r}, a {info.kind} column; "
                "search only text columns (filter the others with list_filter)"
            )
    column("list_filter", "admin.E116", admin.list_filter)
    for name in admin.list_filter:
        info = fields.get(name)
        if info is not None and info.kind in ("text", "json", "binary", "m2m"):
            errors.append(
                f"admin.E117: {where}.list_filter names {name!r}, a {info.kind} field, which "
                "cannot be a filter; filter on a boolean, choice, foreign key or short column"
            )
    column("ordering", "admin.E033", admin.ordering)
    column("readonly_fields", "admin.E035", admin.readonly_fields)
    column("exclude", "admin.E014", [*admin.exclude, *admin.hidden_fields])
    for name, widget in admin.widgets.items():
        if name not in fields:
            errors.append(
                f"admin.E140: {where}.widgets names {name!r}, which is not a field; "
                f"use one of: {_known(admin)}"
            )
        if widget not in WIDGETS:
            errors.append(
                f"admin.E141: {where}.widgets[{name!r}] is {widget!r}; use one of: "
                f"{', '.join(sorted(WIDGETS))}"
            )
    if isinstance(admin.actions, str):
        errors.append(f"admin.E130: {where}.actions is a string; make it a list")
    else:
        for name in admin.actions:
            if name == "delete":
                continue
            method = getattr(admin, name, None)
            if not callable(method):
                errors.append(
                    f"admin.E131: {where}.actions names {name!r}, which is not a method of "
                    f"{type(admin).__name__}; define `async def {name}(self, session, rows)`"
                )
    for inline in admin.inlines:
        if not (isinstance(inline, type) and issubclass(inline, InlineAdmin)):
            errors.append(f"admin.E104: {where}.inlines holds {inline!r}; list InlineAdmin classes")  # type: ignore[unreachable]
            continue
        if inline_relation(admin, inline) is None:
            errors.append(
                f"admin.E202: {where}.inlines: {inline.__name__} has no one-to-many relationship "
                f"from {admin.model.__name__} to {getattr(inline.model, '__name__', inline.model)}; "
                "declare one (relationship(back_populates=...)) or set InlineAdmin.relationship"
            )
    if not isinstance(admin.list_per_page, int) or not 1 <= admin.list_per_page <= 500:
        errors.append(f"admin.E118: {where}.list_per_page must be an int from 1 to 500")
    if admin.name in RESERVED:
        errors.append(
            f"admin.E150: {where} takes the URL {admin.name!r}, which the admin uses itself; "
            "set ModelAdmin.slug to another name"
        )
    elif admin.name in taken:
        errors.append(
            f"admin.E151: two models are registered as {admin.name!r}; set ModelAdmin.slug"
        )
    return errors
