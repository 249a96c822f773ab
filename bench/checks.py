"""Correctness checks run against every contender before it is timed.

Each check raises ``CheckFailed`` naming what was wrong. The ``validate_*`` functions are pure
(status, headers, body) so that tests can hold them to known-good and known-bad answers.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
from collections.abc import Callable
from typing import Any

from bench.workloads import POST_BODY

HELLO = b"Hello, World!"
ADDITIONAL = "Additional fortune added at request time."

Reply = tuple[int, dict[str, str], bytes]


class CheckFailed(AssertionError):
    """A contender answered a correctness check wrongly."""


def fetch(
    port: int, method: str, path: str, body: bytes | None = None, ctype: str | None = None
) -> Reply:
    """Make one request to 127.0.0.1:``port`` and return (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": ctype} if ctype else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _json(reply: Reply, what: str) -> Any:
    status, headers, body = reply
    _expect(status == 200, f"{what}: status {status}, body {body[:200]!r}")
    ctype = headers.get("content-type", "")
    _expect(ctype.startswith("application/json"), f"{what}: content-type {ctype!r}")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise CheckFailed(f"{what}: body is not JSON: {body[:200]!r}") from exc


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def _client_error(reply: Reply, what: str) -> None:
    _expect(400 <= reply[0] < 500, f"{what}: expected a 4xx, got {reply[0]}")


def validate_plaintext(reply: Reply) -> None:
    """Require 200, text/plain and exactly ``Hello, World!``."""
    status, headers, body = reply
    _expect(status == 200, f"plaintext: status {status}")
    ctype = headers.get("content-type", "")
    _expect(ctype.startswith("text/plain"), f"plaintext: content-type {ctype!r}")
    _expect(body == HELLO, f"plaintext: body {body[:100]!r}")


def validate_json(reply: Reply) -> None:
    """Require the JSON hello object."""
    _expect(_json(reply, "json") == {"message": "Hello, World!"}, "json: wrong object")


def validate_world(obj: Any, what: str) -> None:
    """Require one world row ``{"id": 1..10000, "randomNumber": 1..10000}``."""
    _expect(isinstance(obj, dict) and set(obj) == {"id", "randomNumber"}, f"{what}: {obj!r}")
    for key in ("id", "randomNumber"):
        value = obj[key]
        _expect(type(value) is int and 1 <= value <= 10_000, f"{what}: {key}={value!r}")


def validate_worlds(reply: Reply, count: int, what: str) -> None:
    """Require a JSON list of ``count`` world rows."""
    worlds = _json(reply, what)
    _expect(isinstance(worlds, list) and len(worlds) == count, f"{what}: want {count} rows")
    for world in worlds:
        validate_world(world, what)


def validate_fortunes(reply: Reply) -> None:
    """Require the fortunes page: escaped, with the added fortune, sorted by message."""
    status, headers, body = reply
    _expect(status == 200, f"fortunes: status {status}")
    ctype = headers.get("content-type", "")
    _expect(ctype.startswith("text/html"), f"fortunes: content-type {ctype!r}")
    page = body.decode("utf-8")
    _expect("<script>" not in page, "fortunes: markup not escaped")
    cells = re.findall(r"<tr><td>(\d+)</td><td>(.*?)</td></tr>", page)
    _expect(len(cells) == 13, f"fortunes: {len(cells)} rows, want 13")
    messages = [m for _, m in cells]
    _expect(ADDITIONAL in messages, "fortunes: the added fortune is missing")
    unescaped = [
        m.replace("&lt;", "<").replace("&gt;", ">").replace("&#34;", '"').replace("&quot;", '"')
        for m in messages
    ]
    _expect(unescaped == sorted(unescaped), "fortunes: not sorted by message")


def check_plaintext(port: int) -> None:
    validate_plaintext(fetch(port, "GET", "/plaintext"))


def check_json(port: int) -> None:
    validate_json(fetch(port, "GET", "/json"))


def check_pipelined(port: int) -> None:
    """Send 16 requests in one write and require 16 hellos back in one connection."""
    request = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 16
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        deadline = time.monotonic() + 10
        while data.count(HELLO) < 16 and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    _expect(data.count(b" 200 ") == 16, f"pipelined: {data.count(b' 200 ')} of 16 answered")


def check_params(port: int) -> None:
    got = _json(fetch(port, "GET", "/items/42?q=hello&limit=5"), "params")
    _expect(got == {"item_id": 42, "q": "hello", "limit": 5}, f"params: {got!r}")
    got = _json(fetch(port, "GET", "/items/7"), "params defaults")
    _expect(got == {"item_id": 7, "q": None, "limit": 10}, f"params defaults: {got!r}")
    _client_error(fetch(port, "GET", "/items/abc"), "params: non-integer item_id")
    _client_error(fetch(port, "GET", "/items/1?limit=1000"), "params: limit out of range")
    _client_error(fetch(port, "GET", "/items/1?limit=x"), "params: non-integer limit")


def check_post(port: int) -> None:
    ctype = "application/json"
    got = _json(fetch(port, "POST", "/users", POST_BODY.encode(), ctype), "post")
    _expect(got == json.loads(POST_BODY), f"post: {got!r}")
    bad_age = b'{"name": "Ada", "age": "old", "email": "ada@example.com"}'
    _client_error(fetch(port, "POST", "/users", bad_age, ctype), "post: invalid age")
    _client_error(fetch(port, "POST", "/users", b'{"name": ', ctype), "post: malformed JSON")
    missing = b'{"name": "Ada", "age": 3}'
    _client_error(fetch(port, "POST", "/users", missing, ctype), "post: missing field")


def check_db(port: int) -> None:
    validate_world(_json(fetch(port, "GET", "/db"), "db"), "db")


def check_queries(port: int) -> None:
    validate_worlds(fetch(port, "GET", "/queries?queries=20"), 20, "queries")
    validate_worlds(fetch(port, "GET", "/queries?queries=foo"), 1, "queries=foo")
    validate_worlds(fetch(port, "GET", "/queries?queries=0"), 1, "queries=0")


def check_fortunes(port: int) -> None:
    validate_fortunes(fetch(port, "GET", "/fortunes"))


def check_updates(port: int) -> None:
    validate_worlds(fetch(port, "GET", "/updates?queries=20"), 20, "updates")


CHECKS: dict[str, Callable[[int], None]] = {
    "plaintext": check_plaintext,
    "json": check_json,
    "pipelined": check_pipelined,
    "params": check_params,
    "post": check_post,
    "db": check_db,
    "queries": check_queries,
    "fortunes": check_fortunes,
    "updates": check_updates,
}
