"""The per-request code of the built-in middleware as pipeline steps.

``CORSStep``, ``GZipStep``, ``TrustedHostStep`` and ``RequestIDStep`` (the public, subclassable
step classes, in their middleware's module) hand the flow the plain methods of the objects
here (``_before_entry`` / ``_after_entry``): what runs on every request of a route. Anything
uncommon (a preflight, a refusal, a streamed response, compressing) calls back into the
middleware's own object, so each rule is written once.

PERF: the compiled build compiles this module with mypyc (nothing here is meant to be
subclassed or patched); a pure install runs the same code as plain Python.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Final, final

from celeris.core.pipeline import filtered, is_plain
from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.types import CheckedHeader

_RESPONSE: Final = Response
_CHECKED: Final = CheckedHeader
_NEW_PAIR: Final = tuple.__new__  # NOTE: the pair is checked before it is made
_HEAD: Final = "HEAD"
_HOST: Final = b"host"
_ORIGIN: Final = b"origin"
_STATE_KEY: Final = "request_id"
_CACHE_SIZE: Final = 64  # distinct Host values judged and kept

# The version and variant bits of a random (version 4) UUID, RFC 9562 section 5.4: byte 6
# starts with the version 0100, byte 8 with the variant 10.
_VERSION: Final = bytes((b & 0x0F) | 0x40 for b in range(256))
_VARIANT: Final = bytes((b & 0x3F) | 0x80 for b in range(256))
_BATCH: Final = 256  # ids made at once

ids: Final[list[str]] = []  # made ahead, taken from the end


def uuid_hex() -> str:
    """Return a random version 4 UUID as 32 hex digits (``uuid.uuid4().hex``'s value).

    PERF: ``uuid.uuid4().hex`` costs ~15,000 instructions (a UUID object, a 128-bit int and
    its checks); here one ``os.urandom`` call, two ``translate`` calls and one ``hex()`` make
    256 ids, and a request pops one.
    """
    try:
        return ids.pop()
    except IndexError:  # NOTE: once in 256 calls; a test and a pop could race between threads
        pass
    raw = bytearray(os.urandom(16 * _BATCH))
    raw[6::16] = raw[6::16].translate(_VERSION)
    raw[8::16] = raw[8::16].translate(_VARIANT)
    # PERF: hex digits with a space after every 16 bytes, split: the ids without a slice each.
    ids.extend(raw.hex(" ", 16).split())
    return ids.pop()


# SECURITY: a forked worker must not hand out the ids its parent had made.
os.register_at_fork(after_in_child=ids.clear)


@final
class HostCheck:
    """``TrustedHostStep``'s ``before``: a bounded cache of the Host values judged."""

    def __init__(
        self,
        judge: Callable[[list[tuple[bytes, bytes]]], bool],
        refuse: Callable[[Request], Response],
    ) -> None:
        self.judge = judge
        self.refuse = refuse
        # PERF: a server sees few distinct Host values: each is matched once, not per request.
        self.allowed: dict[bytes, bool] = {}

    def before(self, request: Request) -> Response | None:
        value = b""
        for name, raw in request.conn.headers:
            if name == _HOST:
                value = raw
                break
        allowed = self.allowed.get(value)
        if allowed is None:
            allowed = self.judge(request.conn.headers)
            if len(self.allowed) < _CACHE_SIZE:
                self.allowed[value] = allowed
        if allowed:
            return None
        return self.refuse(request)


@final
class RequestIds:
    """``RequestIDStep``'s ``before`` (the id into the state) and ``after`` (its header)."""

    def __init__(self, options: Any) -> None:
        self.options = options
        self.header: bytes = options.header
        self.size = len(self.header)
        self.trust_incoming: bool = bool(options.trust_incoming)
        self.fullmatch: Callable[[str], object] = options.validate.fullmatch
        self.generator: Callable[[], object] = options.generator
        self.default = options.generator is uuid_hex  # PERF: popped here, without the call

    def before(self, request: Request) -> Response | None:
        conn = request.conn
        if self.trust_incoming:
            header = self.header
            for name, value in conn.headers:  # NOTE: RequestIDMiddleware.request_id_in()
                if name == header:
                    incoming = value.decode("latin-1")
                    if self.fullmatch(incoming):
                        conn.state[_STATE_KEY] = incoming
                        return None
                    break
        # NOTE: the connection's state dict is what request.state reads and writes.
        if self.default:
            try:
                conn.state[_STATE_KEY] = ids.pop()
            except IndexError:
                conn.state[_STATE_KEY] = uuid_hex()
        else:
            conn.state[_STATE_KEY] = self.generator()
        return None

    def after(self, request: Request, response: Response) -> Response | None:
        request_id = request.conn.state.get(_STATE_KEY)
        if type(request_id) is not str:
            return None  # NOTE: the handler removed it (or replaced it)
        text: str = request_id
        if type(response) is not _RESPONSE and not is_plain(response):
            return self.filtered(response, text)
        header = self.header
        size = self.size
        raw = response.raw_headers
        for name, _ in raw:
            # PERF: only a name of the same length can be the header, in any case.
            if len(name) == size and name.lower() == header:
                return None
        value = text.encode("latin-1")
        if "\r" not in text and "\n" not in text:  # NOTE: str: no int lookup, unlike bytes
            # PERF: checked here (a 32-character id): the server skips its scan of the head.
            raw.append(_NEW_PAIR(_CHECKED, (header, value)))
        else:
            raw.append((header, value))  # NOTE: the server refuses it
        return None

    def filtered(self, response: Response, request_id: str) -> Response:
        """Return ``response`` (streamed, a file...) sent through the ASGI form's filter."""
        # NOTE: a method of its own: compiled, a function holding a lambda allocates the
        # lambda's environment on every call, taken or not.
        options = self.options
        return filtered(
            response, lambda send: options.send_filter(send, request_id, "http.response.start")
        )


@final
class CORSHeaders:
    """``CORSStep``'s ``after``: nothing to do for a request without ``Origin``."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy

    def after(self, request: Request, response: Response) -> Response | None:
        origin: str | None = None
        for name, value in request.conn.headers:
            if name == _ORIGIN:
                origin = value.decode("latin-1")
                break
        if origin is None:
            return None
        policy = self.policy
        if not policy.applies(origin):
            return None
        if type(response) is not _RESPONSE and not is_plain(response):
            return self.filtered(response, origin)
        raw = response.raw_headers
        raw[:] = policy.cors_headers(raw, origin)
        return None

    def filtered(self, response: Response, origin: str) -> Response:
        """Return ``response`` (streamed, a file...) sent through the ASGI form's filter."""
        policy = self.policy  # NOTE: its own method, as in RequestIds
        return filtered(response, lambda send: policy.send_filter(send, origin))


@final
class Compression:
    """``GZipStep``'s ``after``: small bodies and HEAD requests stop at the first tests."""

    def __init__(self, minimum_size: int, compress: Callable[[Request, Response], object]) -> None:
        self.minimum_size = minimum_size
        self.compress = compress

    def after(self, request: Request, response: Response) -> Response | None:
        if request.conn.method == _HEAD:
            return None
        if type(response) is _RESPONSE:
            body: bytes = response.body
            # PERF: the cheapest test first: most small bodies stop here.
            if len(body) < self.minimum_size:
                return None
        result = self.compress(request, response)
        return result if isinstance(result, Response) else None
