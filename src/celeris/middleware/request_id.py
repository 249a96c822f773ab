"""Give every request an id: taken from a trusted incoming header or generated.

``RequestIDMiddleware`` is pure ASGI; on a celeris ``App`` (``add_middleware``) it runs as
the pipeline step ``RequestIDStep`` for HTTP (WebSockets keep the ASGI form).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, cast

from celeris.core.pipeline import Step
from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.middleware._steps import RequestIds, ids, uuid_hex
from celeris.types import ASGIApp, Message, Receive, Scope, Send

#: Safe ids: at most 200 characters that cannot break a header or a log line.
DEFAULT_VALIDATE = re.compile(r"[A-Za-z0-9._:+/=@-]{1,200}")

# NOTE: the default generator and its batch live with the per-request code (compiled in the
# compiled build); these names are the ones tests and older code use.
_uuid_hex = uuid_hex
_ids = ids


class RequestIDMiddleware:
    """Put a request id into ``scope["state"]["request_id"]`` and the response header.

    An incoming id (``trust_incoming``) is used only when it fully matches ``validate``;
    a malformed one is replaced by a fresh id from ``generator``, never echoed.
    """

    __slots__ = ("app", "generator", "header", "header_name", "trust_incoming", "validate")

    def __init__(
        self,
        app: ASGIApp,
        header_name: str = "X-Request-ID",
        generator: Callable[[], str] = _uuid_hex,
        trust_incoming: bool = True,
        validate: str | re.Pattern[str] = DEFAULT_VALIDATE,
    ) -> None:
        if not header_name or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", header_name):
            raise ValueError(
                f"RequestIDMiddleware: header_name {header_name!r} is not a valid header name"
            )
        self.app = app
        self.header_name = header_name
        self.header = header_name.lower().encode("latin-1")
        self.generator = generator
        self.trust_incoming = trust_incoming
        self.validate = re.compile(validate) if isinstance(validate, str) else validate

    def request_id_of(self, scope: Scope) -> str:
        """Return the trusted incoming id of ``scope`` or a new one."""
        return self.request_id_in(scope.get("headers", ()))

    def request_id_in(self, headers: Iterable[tuple[bytes, bytes]]) -> str:
        """Return the trusted incoming id among raw ``headers`` or a new one."""
        if self.trust_incoming:
            for name, value in headers:
                if name == self.header:
                    incoming: str = value.decode("latin-1")
                    if self.validate.fullmatch(incoming):
                        return incoming
                    break
        return self.generator()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = self.request_id_of(scope)
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = request_id
        start_type = "http.response.start" if kind == "http" else "websocket.accept"
        await self.app(scope, receive, self.send_filter(send, request_id, start_type))

    def send_filter(self, send: Send, request_id: str, start_type: str) -> Send:
        """Return ``send`` adding the id header to the response start (unless present)."""
        pair = (self.header, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == start_type:
                headers = list(message.get("headers", ()))
                if not any(name.lower() == self.header for name, _ in headers):
                    headers.append(pair)
                    message = {**message, "headers": headers}
            await send(message)

        return send_with_id

    @classmethod
    def as_step(cls, **options: Any) -> RequestIDStep:
        """Return these options as a celeris pipeline step (what ``App.add_middleware`` runs)."""
        # NOTE: the instance only holds the options; as a step it wraps no app.
        return RequestIDStep(cls(cast("ASGIApp", None), **options))


class RequestIDStep(Step):
    """``RequestIDMiddleware`` as a pipeline step: the id in ``before``, the header after."""

    def __init__(self, options: RequestIDMiddleware) -> None:
        self.options = options
        # PERF: the per-request code is compiled in the compiled build (middleware._steps).
        self._ids = RequestIds(options)

    def _before_entry(self) -> tuple[Any, bool] | None:
        return (self._ids.before, False)  # PERF: plain calls, no coroutines

    def _after_entry(self) -> tuple[Any, bool] | None:
        return (self._ids.after, False)

    async def before(self, request: Request) -> Response | None:
        """Put the request's id into ``request.state.request_id``."""
        return self.before_now(request)

    async def after(self, request: Request, response: Response) -> Response | None:  # type: ignore[override]
        """Add the id header unless the response has one."""
        return self.after_now(request, response)

    def before_now(self, request: Request) -> Response | None:
        """``before``, as a plain function."""
        return self._ids.before(request)

    def after_now(self, request: Request, response: Response) -> Response | None:
        """``after``, as a plain function."""
        return self._ids.after(request, response)
