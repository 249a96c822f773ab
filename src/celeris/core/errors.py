"""HTTP errors rendered as RFC 9457 ``application/problem+json``."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Final

from celeris.core.responses import HTMLResponse, JSONResponse, Response
from celeris.core.status import reason_phrase

__all__ = [
    "RAISE_HTTP_ERRORS",
    "BadGateway",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "GatewayTimeout",
    "Gone",
    "HTTPError",
    "InternalServerError",
    "LengthRequired",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotFound",
    "NotImplementedHTTP",
    "PayloadTooLarge",
    "PreconditionFailed",
    "ProblemResponse",
    "RangeNotSatisfiable",
    "RequestTimeout",
    "RequestValidationError",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "UnprocessableEntity",
    "UnsupportedMediaType",
    "error_page",
    "prefers_html",
]

PROBLEM_JSON = "application/problem+json"
#: An ASGI scope key a celeris ``App`` sets for the apps it mounts: an ``HTTPError`` the mounted
#: app raises before it starts its response is answered by the App's own error handling
#: (``StaticFiles`` raises its 404 and 405 then).
RAISE_HTTP_ERRORS: Final = "celeris.raise_http_errors"


class ProblemResponse(JSONResponse):
    """A JSON response with the ``application/problem+json`` media type."""

    __slots__ = ()
    media_type_default = PROBLEM_JSON


class HTTPError(Exception):
    """An error that becomes an HTTP response: ``raise HTTPError(404, "No such item")``."""

    status_code: int
    detail: str | None
    headers: dict[str, str] | None
    title: str
    type: str
    extra: dict[str, Any]

    def __init__(
        self,
        status_code: int,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        title: str | None = None,
        type: str | None = None,  # the RFC 9457 member name
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(status_code, bool) or not isinstance(status_code, int):
            raise TypeError(f"status_code must be an int, not {_type_name(status_code)}")
        if not 100 <= status_code <= 599:
            raise ValueError(f"status_code must be between 100 and 599, got {status_code}")
        self.status_code = status_code
        self.detail = detail
        self.headers = dict(headers) if headers else None
        self.title = title if title is not None else (reason_phrase(status_code) or "Error")
        self.type = type if type is not None else "about:blank"
        self.extra = dict(extra) if extra else {}
        super().__init__(detail if detail is not None else self.title)

    def to_problem(self) -> dict[str, Any]:
        """Return the RFC 9457 problem object (type, title, status, detail, extensions)."""
        problem: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status_code,
        }
        if self.detail is not None:
            problem["detail"] = self.detail
        for key, value in self.extra.items():
            problem.setdefault(key, value)
        return problem

    def to_response(self, accept: str | None = None) -> Response:
        """Return the problem+json response, or an HTML page when ``accept`` prefers HTML."""
        if accept and prefers_html(accept):
            response = self.to_html()
            # NOTE: the page was chosen by Accept: a cache must not give it to an API client.
            vary = response.headers.get("vary")
            response.headers["vary"] = f"{vary}, Accept" if vary else "Accept"
            return response
        return ProblemResponse(self.to_problem(), self.status_code, self.headers)

    def to_html(self) -> Response:
        """Return this error as the built-in HTML page, carrying this error's headers."""
        return HTMLResponse(error_page(self), self.status_code, self.headers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, detail={self.detail!r})"


def _type_name(value: object) -> str:
    """Return the type name of ``value`` for error messages."""
    return type(value).__name__


class _StatusError(HTTPError):
    """An ``HTTPError`` whose status code is fixed by the class."""

    status: ClassVar[int] = 500

    def __init__(
        self,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        title: str | None = None,
        type: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(self.status, detail, headers, title=title, type=type, extra=extra)


class BadRequest(_StatusError):
    """400 Bad Request."""

    status = 400


class Unauthorized(_StatusError):
    """401 Unauthorized (pass ``headers={"WWW-Authenticate": ...}``)."""

    status = 401


class Forbidden(_StatusError):
    """403 Forbidden."""

    status = 403


class NotFound(_StatusError):
    """404 Not Found."""

    status = 404


class MethodNotAllowed(_StatusError):
    """405 Method Not Allowed; ``allow`` fills the Allow header."""

    status = 405

    def __init__(
        self,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        allow: Iterable[str] | None = None,
        title: str | None = None,
        type: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        merged = dict(headers or {})
        if allow is not None:
            merged["allow"] = ", ".join(allow)
        super().__init__(detail, merged, title=title, type=type, extra=extra)


class NotAcceptable(_StatusError):
    """406 Not Acceptable."""

    status = 406


class RequestTimeout(_StatusError):
    """408 Request Timeout."""

    status = 408


class Conflict(_StatusError):
    """409 Conflict."""

    status = 409


class Gone(_StatusError):
    """410 Gone."""

    status = 410


class LengthRequired(_StatusError):
    """411 Length Required."""

    status = 411


class PreconditionFailed(_StatusError):
    """412 Precondition Failed."""

    status = 412


class PayloadTooLarge(_StatusError):
    """413 Content Too Large."""

    status = 413


class UnsupportedMediaType(_StatusError):
    """415 Unsupported Media Type."""

    status = 415


class RangeNotSatisfiable(_StatusError):
    """416 Range Not Satisfiable."""

    status = 416


class UnprocessableEntity(_StatusError):
    """422 Unprocessable Content."""

    status = 422


class _RetryAfterError(_StatusError):
    def __init__(
        self,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        retry_after: int | None = None,
        title: str | None = None,
        type: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        merged = dict(headers or {})
        if retry_after is not None:
            merged["retry-after"] = str(int(retry_after))
        super().__init__(detail, merged, title=title, type=type, extra=extra)


class TooManyRequests(_RetryAfterError):
    """429 Too Many Requests; ``retry_after`` (seconds) fills Retry-After."""

    status = 429


class InternalServerError(_StatusError):
    """500 Internal Server Error."""

    status = 500


class NotImplementedHTTP(_StatusError):
    """501 Not Implemented (named so as not to shadow the builtin)."""

    status = 501


class BadGateway(_StatusError):
    """502 Bad Gateway."""

    status = 502


class ServiceUnavailable(_RetryAfterError):
    """503 Service Unavailable; ``retry_after`` (seconds) fills Retry-After."""

    status = 503


class GatewayTimeout(_StatusError):
    """504 Gateway Timeout."""

    status = 504


class RequestValidationError(HTTPError):
    """422 with the list of what failed: ``[{"loc": [...], "msg": ..., "type": ...}]``."""

    def __init__(
        self,
        errors: list[dict[str, Any]],
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.errors = list(errors)
        super().__init__(
            422,
            detail if detail is not None else _summary(self.errors),
            headers,
            extra={"errors": self.errors},
        )


def _summary(errors: list[dict[str, Any]]) -> str:
    if not errors:
        return "Request validation failed."
    first = errors[0]
    loc = ".".join(str(part) for part in first.get("loc", ()))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{loc}: {first.get('msg', 'invalid')}{more}" if loc else f"{first.get('msg')}{more}"


# --- HTML error pages -------------------------------------------------------------------------

_HTML_TYPES: Final = frozenset({"text/html", "application/xhtml+xml"})
_JSON_TYPES: Final = frozenset({"application/json", "application/problem+json", "application/*"})

ERROR_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{status} {title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;\
color:#222}}h1{{font-weight:600}}p,li{{color:#555}}</style></head>
<body><h1>{status} {title}</h1>{detail}{errors}</body></html>
"""


def prefers_html(accept: str | None) -> bool:
    """Tell whether an ``Accept`` header ranks HTML above JSON (a browser, not an API client).

    ``*/*``, no header and a tie all mean JSON: problem+json stays the default for APIs.
    """
    if not accept or "html" not in accept:
        return False
    html_q = json_q = 0.0
    for item in accept.split(","):
        media, _, params = item.partition(";")
        media = media.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:  # NOTE: also NaN: a weight is a number from 0 to 1
                    q = 0.0
        if media in _HTML_TYPES:
            html_q = max(html_q, q)
        elif media in _JSON_TYPES:
            json_q = max(json_q, q)
    return html_q > json_q


def error_page(error: HTTPError) -> str:
    """Return the built-in HTML page for ``error`` (status, title, detail, validation errors)."""
    detail = f"<p>{html.escape(error.detail)}</p>" if error.detail else ""
    items = error.extra.get("errors")
    errors = ""
    if isinstance(items, list) and items:
        lines = []
        for item in items:
            found = item if isinstance(item, dict) else {"msg": item}
            loc = html.escape(".".join(str(part) for part in found.get("loc", ())))
            msg = html.escape(str(found.get("msg", "")))
            lines.append(f"<li><code>{loc}</code> {msg}</li>")
        errors = "<ul>" + "".join(lines) + "</ul>"
    return ERROR_PAGE.format(
        status=error.status_code, title=html.escape(error.title), detail=detail, errors=errors
    )
