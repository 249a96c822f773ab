"""The tests every contender runs, modelled on the TechEmpower suite (see bench/README.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["wrk", "websocket", "idle", "coldstart"]


@dataclass(frozen=True)
class Workload:
    """One test: what to request and how."""

    name: str
    title: str
    kind: Kind
    path: str = ""
    script: str | None = None
    script_args: tuple[str, ...] = ()
    connections: int = 64
    unit: str = "req/s"
    # NOTE: a test with ``app`` runs on its own app module per contender (``Contender.apps``),
    # so that the batteries it switches on app-wide never touch the other tests' answers.
    app: str = ""
    # A path GET once per server before timing: the cookies it (and then ``path``) sets are
    # sent by wrk on every request, as a signed-in browser would.
    login: str = ""


WORKLOADS: tuple[Workload, ...] = (
    Workload("plaintext", "Plaintext", "wrk", "/plaintext"),
    Workload("json", "JSON", "wrk", "/json"),
    Workload("pipelined", "Plaintext, pipelined x16", "wrk", "/plaintext", "pipeline.lua", ("16",)),
    Workload("params", "Path + query params", "wrk", "/items/42?q=hello&limit=5"),
    Workload("post", "POST JSON body", "wrk", "/users", "post.lua"),
    Workload("db", "Single query", "wrk", "/db"),
    Workload("queries", "20 queries", "wrk", "/queries?queries=20"),
    Workload("fortunes", "Fortunes", "wrk", "/fortunes"),
    Workload("updates", "20 updates", "wrk", "/updates?queries=20"),
    Workload("secured", "Secured page", "wrk", "/secured", app="secured", login="/login"),
    Workload("websocket", "WebSocket echo", "websocket", "/ws", connections=16, unit="msg/s"),
    Workload("idle", "Idle connections", "idle", "/plaintext", unit="KiB/conn"),
    Workload("coldstart", "Cold start", "coldstart", "/plaintext", unit="ms"),
)

BY_NAME = {w.name: w for w in WORKLOADS}
WRK = tuple(w for w in WORKLOADS if w.kind == "wrk")

SECURED_USER = "ada"  # what /login?user= puts in the session; /secured must echo it
POST_BODY = '{"name": "Ada Lovelace", "age": 36, "email": "ada@example.com"}'
