"""The hello app of bench/overhead.py as a celeris ``App``: plaintext and JSON only."""

from __future__ import annotations

from bench.apps.sql import HELLO
from celeris import App

app = App()


@app.get("/plaintext")
async def plaintext() -> str:
    return HELLO


@app.get("/json")
async def json() -> dict[str, str]:
    return {"message": HELLO}
