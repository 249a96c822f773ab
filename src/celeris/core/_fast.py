"""The per-request helpers of the lane that the compiled build compiles: extractors and makers.

``HeaderExtractor`` and ``PathExtractor`` are the ``ParamInfo.extract`` of header and path
parameters (``signature.py`` makes them once per parameter at start-up); ``parts_response``
makes the piped lane's ``Response`` of finished parts without calling the interpreted
``Response.of_parts`` classmethod.

PERF: the compiled build compiles this module with mypyc. Compiled, an interpreted extractor
closure (and the identity converter it called for a ``str`` parameter) cost two frames per
value; here each is C code (-760 instructions per request on the dressed bench app), and
``parts_response`` saves ~700 more. Nothing here is public or meant to be subclassed:
``Response`` stays an interpreted class, and ``parts_response`` sets exactly the slots
``Response.of_parts`` sets (``tests/core/test_fast.py`` compares every slot).

NOTE: a ``Request`` is still made by its own ``__init__``: the same maker here, setting its 14
slots from compiled code, measured +1,450 instructions (``PyObject_SetAttr`` on an interpreted
object costs ~190 instructions a slot; the interpreter's specialised slot store ~15).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, final

from celeris.core.params import MISSING
from celeris.core.requests import Request
from celeris.core.responses import Response

_MISSING: Final[Any] = MISSING
_REQUEST_CLASS: Final = Request
_NEW: Final = object.__new__


@final
class HeaderExtractor:
    """The first value of one header, by its pre-encoded lower-case name; MISSING when absent."""

    def __init__(self, name: bytes, convert: Callable[[Any], Any], identity: bool) -> None:
        self.name = name
        self.convert = convert
        self.identity = identity  # PERF: a str parameter: no converter call

    def __call__(self, conn: Any, path_params: dict[str, Any]) -> Any:
        # PERF: straight from the raw pairs (of the connection for a Request: no Headers
        # object); a WebSocket's are its Headers' raw list.
        raw = conn.conn.headers if type(conn) is _REQUEST_CLASS else conn.headers.raw
        name = self.name
        for key, value in raw:
            if key == name:
                text: str = value.decode("latin-1")
                if self.identity:
                    return text
                return self.convert(text)
        return _MISSING


@final
class PathExtractor:
    """One path parameter, converted; MISSING when the route's path does not hold it."""

    def __init__(self, alias: str, convert: Callable[[Any], Any], identity: bool) -> None:
        self.alias = alias
        self.convert = convert
        self.identity = identity

    def __call__(self, conn: Any, path_params: dict[str, Any]) -> Any:
        value = path_params.get(self.alias, _MISSING)
        if value is _MISSING or self.identity:
            return value
        return self.convert(value)


def parts_response(
    status_code: int, raw_headers: list[Any], body: bytes, media_type: str | None
) -> Response:
    """Return ``Response.of_parts(...)`` (a plain ``Response``), made without the classmethod."""
    response: Response = _NEW(Response)
    response.status_code = status_code
    response.media_type = media_type
    response.background = None
    response.body = body
    response._headers = None
    response.raw_headers = raw_headers
    return response
