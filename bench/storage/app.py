"""``POST /upload/{name}`` streams the request body into ``Storage`` (``STORAGE_URL``).

``POST /buffered/{name}`` is the control: it reads the whole body first, as a handler that
calls ``request.body()`` would, so the bench shows that its meter sees such a mistake.
"""

from __future__ import annotations

import os

from celeris import App, Request
from celeris.storage import Storage

app = App()
storage = Storage(app=app, url=os.environ.get("STORAGE_URL"), secret="bench-storage")


@app.get("/plaintext")
async def plaintext() -> str:
    return "OK"


@app.post("/upload/{name}")
async def upload(name: str, request: Request) -> dict[str, object]:
    # NOTE: request.stream() goes straight to the store: the body never sits whole in memory.
    saved = await storage.save(f"bench/{name}", request.stream(), overwrite=True)
    return {"name": saved, "size": await storage.size(saved)}


@app.post("/buffered/{name}")
async def buffered(name: str, request: Request) -> dict[str, object]:
    saved = await storage.save(f"bench/{name}", await request.body(), overwrite=True)
    return {"name": saved, "size": await storage.size(saved)}
