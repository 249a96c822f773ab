"""The hello app dressed as a real one: the four built-in middleware, a hook, a dependency.

What ``bench/hotpath.py`` compares with ``celeris_hello`` (the bare app): CORS, GZip,
TrustedHost and RequestID through ``add_middleware``, a no-op ``before_request`` hook and a
one-level dependency that reads a header, written the way the guide tells users to.
"""

from __future__ import annotations

from typing import Annotated

from bench.apps.sql import HELLO
from celeris import App, Depends, Header, Request
from celeris.middleware import (
    CORSMiddleware,
    GZipMiddleware,
    RequestIDMiddleware,
    TrustedHostMiddleware,
)

app = App()
app.add_middleware(TrustedHostMiddleware, allowed_hosts=["localhost", "127.0.0.1"])
app.add_middleware(GZipMiddleware, minimum_size=500)
app.add_middleware(CORSMiddleware, allow_origins=["https://example.com"])
app.add_middleware(RequestIDMiddleware)


@app.before_request
async def noop(request: Request) -> None:
    return None


async def client_agent(user_agent: Annotated[str, Header()] = "") -> str:
    return user_agent


@app.get("/plaintext")
async def plaintext(agent: Annotated[str, Depends(client_agent)]) -> str:
    return HELLO


@app.get("/json")
async def json(agent: Annotated[str, Depends(client_agent)]) -> dict[str, str]:
    return {"message": HELLO}
