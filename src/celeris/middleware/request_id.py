"""Give every request an id: taken from a trusted incoming header or generated."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from celeris.types import ASGIApp, Message, Receive, Scope, Send

#: Safe ids: at most 200 characters that cannot break a header or a log line.
DEFAULT_VALIDATE = re.compile(r"[A-Za-z0-9._:+/=@-]{1,200}")


def _uuid_hex() -> str:
    return uuid.uuid4().hex


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
        if self.trust_incoming:
            for name, value in scope.get("headers", ()):
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
        pair = (self.header, request_id.encode("latin-1"))
        start_type = "http.response.start" if kind == "http" else "websocket.accept"

        async def send_with_id(message: Message) -> None:
            if message["type"] == start_type:
                headers = list(message.get("headers", ()))
                if not any(name.lower() == self.header for name, _ in headers):
                    headers.append(pair)
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)
