"""Parameter markers: ``Path Query Header Cookie Body Form File Depends``.

A marker says where a handler parameter comes from. Use it as the default value
(``q: str = Query("x")``) or inside ``Annotated`` (``q: Annotated[str, Query()]``).
The markers are plain data; ``signature.py`` reads them once at start-up and turns
constraints (``max_length=50``, ``ge=1``, ...) into ``msgspec.Meta`` on the parameter's type.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, Final, Literal, TypedDict, Unpack


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


#: The value constraints a marker accepts; each maps to the ``msgspec.Meta`` field of that name.
CONSTRAINTS: Final = (
    "gt",
    "ge",
    "lt",
    "le",
    "multiple_of",
    "min_length",
    "max_length",
    "pattern",
)


class ParamOptions(TypedDict, total=False):
    """The options every marker takes (declared once, here)."""

    alias: str | None
    title: str | None
    description: str | None
    examples: list[Any] | None
    deprecated: bool
    include_in_schema: bool
    gt: int | float
    ge: int | float
    lt: int | float
    le: int | float
    multiple_of: int | float
    min_length: int
    max_length: int
    pattern: str


class Param:
    """A marker: the source of one handler parameter, its constraints and documentation."""

    __slots__ = (
        "alias",
        "constraints",
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
        convert_underscores: bool = True,
        embed: bool = False,
        media_type: str | None = None,
        **options: Unpack[ParamOptions],
    ) -> None:
        unknown = set(options) - set(ParamOptions.__annotations__)
        if unknown:
            raise TypeError(f"{source.value.capitalize()}() got unknown options {sorted(unknown)}")
        self.source = source
        # NOTE: FastAPI users write ``Query(...)`` for "required"; accept Ellipsis too.
        self.default = MISSING if default is ... else default
        self.alias = options.get("alias")
        self.title = options.get("title")
        self.description = options.get("description")
        self.examples = options.get("examples")
        self.deprecated = options.get("deprecated", False)
        self.include_in_schema = options.get("include_in_schema", True)
        self.convert_underscores = convert_underscores
        self.embed = embed
        self.media_type = media_type
        #: ``{"max_length": 50, ...}``: only the constraints given, in ``CONSTRAINTS`` order.
        self.constraints: dict[str, Any] = {
            key: options[key] for key in CONSTRAINTS if options.get(key) is not None
        }

    def __repr__(self) -> str:
        return f"{self.source.value.capitalize()}(default={self.default!r}, alias={self.alias!r})"


DependencyScope = Literal["request", "function"]


class Dependency:
    """A ``Depends(callable)`` marker.

    ``scope`` decides when a generator dependency's after-``yield`` code runs: ``"request"``
    after the response was sent, ``"function"`` right after the handler returned (before the
    response); ``None`` takes the callable's ``celeris_dependency_scope`` or ``"request"``.
    """

    __slots__ = ("dependency", "scope", "use_cache")

    def __init__(
        self,
        dependency: Callable[..., Any],
        *,
        use_cache: bool = True,
        scope: DependencyScope | None = None,
    ) -> None:
        if not callable(dependency):
            raise TypeError(f"Depends() needs a callable, got {dependency!r}")
        if scope not in (None, "request", "function"):
            raise ValueError(f"Depends(scope=...) must be 'request' or 'function', not {scope!r}")
        self.dependency = dependency
        self.use_cache = use_cache
        self.scope = scope

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__qualname__", repr(self.dependency))
        return f"Depends({name})"


# NOTE: the public markers are functions returning ``Any`` so that ``x: int = Query(1)``
# type-checks for users, as in FastAPI.


def Path(default: Any = MISSING, **options: Unpack[ParamOptions]) -> Any:
    """Mark a parameter as taken from the path."""
    return Param(Source.PATH, default, **options)


def Query(default: Any = MISSING, **options: Unpack[ParamOptions]) -> Any:
    """Mark a parameter as taken from the query string."""
    return Param(Source.QUERY, default, **options)


def Header(
    default: Any = MISSING, *, convert_underscores: bool = True, **options: Unpack[ParamOptions]
) -> Any:
    """Mark a parameter as taken from a request header (``x_token`` reads ``x-token``)."""
    return Param(Source.HEADER, default, convert_underscores=convert_underscores, **options)


def Cookie(default: Any = MISSING, **options: Unpack[ParamOptions]) -> Any:
    """Mark a parameter as taken from a cookie."""
    return Param(Source.COOKIE, default, **options)


def Body(
    default: Any = MISSING,
    *,
    embed: bool = False,
    media_type: str = "application/json",
    **options: Unpack[ParamOptions],
) -> Any:
    """Mark a parameter as the JSON body, or one member of it with ``embed=True``."""
    return Param(Source.BODY, default, embed=embed, media_type=media_type, **options)


def Form(
    default: Any = MISSING,
    *,
    media_type: str = "application/x-www-form-urlencoded",
    **options: Unpack[ParamOptions],
) -> Any:
    """Mark a parameter as a form field (urlencoded or multipart)."""
    return Param(Source.FORM, default, media_type=media_type, **options)


def File(
    default: Any = MISSING,
    *,
    media_type: str = "multipart/form-data",
    **options: Unpack[ParamOptions],
) -> Any:
    """Mark a parameter as an uploaded file of a multipart form."""
    return Param(Source.FILE, default, media_type=media_type, **options)


def Depends(
    dependency: Callable[..., Any],
    *,
    use_cache: bool = True,
    scope: DependencyScope | None = None,
) -> Any:
    """Inject the result of ``dependency`` (resolved once per request when ``use_cache``)."""
    return Dependency(dependency, use_cache=use_cache, scope=scope)
