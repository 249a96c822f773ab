"""Parameter markers: ``Path Query Header Cookie Body Form File Depends``.

A marker says where a handler parameter comes from. Use it as the default value
(``q: str = Query("x")``) or inside ``Annotated`` (``q: Annotated[str, Query()]``).
The markers are plain data; ``signature.py`` reads them once at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, Final


class _Missing:
    """The type of ``MISSING``: no default was given, the parameter is required."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final[Any] = _Missing()


class Source(StrEnum):
    """Where a bound value comes from; the value is the first item of an error ``loc``."""

    PATH = "path"
    QUERY = "query"
    HEADER = "header"
    COOKIE = "cookie"
    BODY = "body"
    FORM = "form"
    FILE = "file"


class Param:
    """A marker: the source of one handler parameter and its documentation."""

    __slots__ = (
        "alias",
        "convert_underscores",
        "default",
        "deprecated",
        "description",
        "embed",
        "examples",
        "include_in_schema",
        "media_type",
        "source",
        "title",
    )

    def __init__(
        self,
        source: Source,
        default: Any = MISSING,
        *,
        alias: str | None = None,
        title: str | None = None,
        description: str | None = None,
        examples: list[Any] | None = None,
        deprecated: bool = False,
        include_in_schema: bool = True,
        convert_underscores: bool = True,
        embed: bool = False,
        media_type: str | None = None,
    ) -> None:
        self.source = source
        # NOTE: FastAPI users write ``Query(...)`` for "required"; accept Ellipsis too.
        self.default = MISSING if default is ... else default
        self.alias = alias
        self.title = title
        self.description = description
        self.examples = examples
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self.convert_underscores = convert_underscores
        self.embed = embed
        self.media_type = media_type

    def __repr__(self) -> str:
        return f"{self.source.value.capitalize()}(default={self.default!r}, alias={self.alias!r})"


class Dependency:
    """A ``Depends(callable)`` marker."""

    __slots__ = ("dependency", "use_cache")

    def __init__(self, dependency: Callable[..., Any], *, use_cache: bool = True) -> None:
        if not callable(dependency):
            raise TypeError(f"Depends() needs a callable, got {dependency!r}")
        self.dependency = dependency
        self.use_cache = use_cache

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__qualname__", repr(self.dependency))
        return f"Depends({name})"


# NOTE: the public markers are functions returning ``Any`` so that ``x: int = Query(1)``
# type-checks for users, as in FastAPI.


def Path(
    default: Any = MISSING,
    *,
    alias: str | None = None,
    title: str | None = None,
    description: str | None = None,
    examples: list[Any] | None = None,
    deprecated: bool = False,
    include_in_schema: bool = True,
) -> Any:
    """Mark a parameter as taken from the path."""
    return Param(
        Source.PATH,
        default,
        alias=alias,
        title=title,
        description=description,
        examples=examples,
        deprecated=deprecated,
        include_in_schema=include_in_schema,
    )


def Query(
    default: Any = MISSING,
    *,
    alias: str | None = None,
    title: str | None = None,
    description: str | None = None,
    examples: list[Any] | None = None,
    deprecated: bool = False,
    include_in_schema: bool = True,
) -> Any:
    """Mark a parameter as taken from the query string."""
    return Param(
        Source.QUERY,
        default,
        alias=alias,
        title=title,
        description=description,
        examples=examples,
        deprecated=deprecated,
        include_in_schema=include_in_schema,
    )


def Header(
    default: Any = MISSING,
    *,
    alias: str | None = None,
    convert_underscores: bool = True,
    title: str | None = None,
    description: str | None = None,
    examples: list[Any] | None = None,
    deprecated: bool = False,
    include_in_schema: bool = True,
) -> Any:
    """Mark a parameter as taken from a request header (``x_token`` reads ``x-token``)."""
    return Param(
        Source.HEADER,
        default,
        alias=alias,
        convert_underscores=convert_underscores,
        title=title,
        description=description,
        examples=examples,
        deprecated=deprecated,
        include_in_schema=include_in_schema,
    )


def Cookie(
    default: Any = MISSING,
    *,
    alias: str | None = None,
    title: str | None = None,
    description: str | None = None,
    examples: list[Any] | None = None,
    deprecated: bool = False,
    include_in_schema: bool = True,
) -> Any:
    """Mark a parameter as taken from a cookie."""
    return Param(
        Source.COOKIE,
        default,
        alias=alias,
        title=title,
        description=description,
        examples=examples,
        deprecated=deprecated,
        include_in_schema=include_in_schema,
    )


def Body(
    default: Any = MISSING,
    *,
    alias: str | None = None,
    embed: bool = False,
    media_type: str = "application/json",
    title: str | None = None,
    description: str | None = None,
    examples: list[Any] | None = None,
    deprecated: bool = False,
    include_in_schema: bool = True,
) -> Any:
    """Mark a parameter as the JSON body, or one member of it with ``embed=True``."""
    return Param(
        Source.BODY,
        default,
        alias=alias,
        embed=embed,
        media_type=media_type,
        title=title,
        description=description,
        examples=examples,
        deprecated=deprecated,
        include_in_schema=include_in_schema,
    )


def Form(
    default: Any = MISSING,
    *,
    alias: str | None = None,
    media_type: str = "application/x-www-form-urlencoded",
    title: str | None = None,
    description: str | None = None,
    examples: list[Any] | None = None,
    deprecated: bool = False,
    include_in_schema: bool = True,
) -> Any:
    """Mark a parameter as a form field (urlencoded or multipart)."""
    return Param(
        Source.FORM,
        default,
        alias=alias,
        media_type=media_type,
        title=title,
        description=description,
        examples=examples,
        deprecated=deprecated,
        include_in_schema=include_in_schema,
    )


def File(
    default: Any = MISSING,
    *,
    alias: str | None = None,
    media_type: str = "multipart/form-data",
    title: str | None = None,
    description: str | None = None,
    examples: list[Any] | None = None,
    deprecated: bool = False,
    include_in_schema: bool = True,
) -> Any:
    """Mark a parameter as an uploaded file of a multipart form."""
    return Param(
        Source.FILE,
        default,
        alias=alias,
        media_type=media_type,
        title=title,
        description=description,
        examples=examples,
        deprecated=deprecated,
        include_in_schema=include_in_schema,
    )


def Depends(dependency: Callable[..., Any], *, use_cache: bool = True) -> Any:
    """Inject the result of ``dependency`` (resolved once per request when ``use_cache``)."""
    return Dependency(dependency, use_cache=use_cache)
