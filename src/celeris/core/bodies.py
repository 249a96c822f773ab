"""A request body as an async iterator: ``Request.stream()``'s generator.

NOTE: its own module, interpreted: the compiled build compiles ``core/requests.py`` with mypyc,
which does not compile async generators.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # NOTE: requests imports this module
    from celeris.core.requests import Request


async def body_stream(request: Request) -> AsyncIterator[bytes]:
    """Yield ``request``'s body in chunks as they arrive (once; ``body()`` caches instead)."""
    from celeris.core.requests import _next_chunk

    if request._body is not None:
        yield request._body
        return
    if request._stream_consumed:
        raise RuntimeError("The request body has already been consumed by stream().")
    request._stream_consumed = True
    receive = request.conn.receive
    more = True
    while more:
        chunk, more = await _next_chunk(receive)
        if chunk:
            yield chunk
