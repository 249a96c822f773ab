"""Correctness checks run against every contender before it is timed.

Each check raises ``CheckFailed`` naming what was wrong. The ``validate_*`` functions are pure
(status, headers, body) so that tests can hold them to known-good and known-bad answers.
"""

from __future__ import annotations

import html
import http.client
import http.cookies
import json
import re
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from bench.workloads import BY_NAME as WORKLOADS
from bench.workloads import POST_BODY, SECURED_USER

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


def exchange(
    port: int,
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[Reply, dict[str, str]]:
    """Make one request with ``headers``; return the reply and the cookies it set."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        raw = resp.getheaders()
        reply = (resp.status, {k.lower(): v for k, v in raw}, resp.read())
    finally:
        conn.close()
    # NOTE: a response may set several cookies; the dict of ``fetch`` would keep only one.
    jar: dict[str, str] = {}
    for name, value in raw:
        if name.lower() == "set-cookie":
            parsed = http.cookies.SimpleCookie()
            parsed.load(value)
            jar.update({key: morsel.value for key, morsel in parsed.items()})
    return reply, jar


def cookie_header(jar: Mapping[str, str]) -> str:
    """Return the ``Cookie`` request header value for ``jar``."""
    return "; ".join(f"{name}={value}" for name, value in jar.items())


def login_cookies(port: int, login: str, page: str) -> dict[str, str]:
    """Sign in at ``login``, then open ``page`` once: the cookies a browser then holds."""
    (status, _, body), jar = exchange(port, "GET", f"{login}?{urlencode({'user': SECURED_USER})}")
    _expect(200 <= status < 400, f"login: status {status}, body {body[:200]!r}")
    _expect(bool(jar), "login: no cookie set")
    _, more = exchange(port, "GET", page, {"Cookie": cookie_header(jar)})
    return {**jar, **more}


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


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "deny",
    "cross-origin-opener-policy": "same-origin",
}
_INPUT = re.compile(r"<input\b[^>]*>", re.I)
_ATTR = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def hidden_inputs(page: str) -> dict[str, str]:
    """Return the hidden ``<input>`` fields of ``page`` as name -> value (HTML-unescaped)."""
    fields = {}
    for tag in _INPUT.findall(page):
        attrs = {
            m[1].lower(): html.unescape(m[2] if m[2] is not None else m[3])
            for m in _ATTR.finditer(tag)
        }
        if attrs.get("type", "").lower() == "hidden" and attrs.get("name"):
            fields[attrs["name"]] = attrs.get("value", "")
    return fields


def validate_secured(reply: Reply, user: str) -> tuple[str, str]:
    """Require the secured page for ``user``; return its CSRF field (name, token).

    200 text/html; ``<p id="user">`` holds the session's user; a POST form carries a hidden
    token field; nosniff, X-Frame-Options DENY, COOP same-origin, a Referrer-Policy and a
    CSP with ``default-src`` are sent.
    """
    status, headers, body = reply
    _expect(status == 200, f"secured: status {status}, body {body[:200]!r}")
    ctype = headers.get("content-type", "")
    _expect(ctype.startswith("text/html"), f"secured: content-type {ctype!r}")
    page = body.decode("utf-8")
    shown = re.search(r'<p id="user">(.*?)</p>', page)
    _expect(shown is not None, 'secured: no <p id="user"> on the page')
    assert shown is not None
    _expect(shown[1] == user, f"secured: the page shows user {shown[1]!r}, want {user!r}")
    _expect(re.search(r'<form\b[^>]*method="post"', page, re.I) is not None, "secured: no form")
    tokens = {n: v for n, v in hidden_inputs(page).items() if len(v) >= 16}
    _expect(len(tokens) == 1, f"secured: want one hidden CSRF token field, got {tokens!r}")
    for name, value in SECURITY_HEADERS.items():
        got = headers.get(name, "")
        _expect(got.lower() == value, f"secured: {name} is {got!r}, want {value!r}")
    _expect(bool(headers.get("referrer-policy")), "secured: no Referrer-Policy")
    csp = headers.get("content-security-policy", "")
    _expect("default-src" in csp, f"secured: Content-Security-Policy {csp!r} has no default-src")
    return next(iter(tokens.items()))


def check_secured(port: int) -> None:
    """Check the secured page, and that its form really is CSRF-protected.

    Without a session the page shows ``anonymous``; signed in (the cookies of
    ``login_cookies``) it shows the user. A cross-site POST without the token is refused
    (401/403); a same-origin POST with the page's token and cookies is accepted.
    """
    workload = WORKLOADS["secured"]
    page = workload.path
    validate_secured(fetch(port, "GET", page), "anonymous")
    jar = login_cookies(port, workload.login, page)
    reply, more = exchange(port, "GET", page, {"Cookie": cookie_header(jar)})
    jar.update(more)
    name, token = validate_secured(reply, SECURED_USER)
    origin = f"http://127.0.0.1:{port}"
    form = "application/x-www-form-urlencoded"
    forged = {"Cookie": cookie_header(jar), "Content-Type": form,
              "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}  # fmt: skip
    status = exchange(port, "POST", page, forged, b"note=forged")[0][0]
    _expect(status in (401, 403), f"secured: a forged cross-site POST got {status}, want 403")
    genuine = {"Cookie": cookie_header(jar), "Content-Type": form, "Origin": origin,
               "Referer": origin + page, "Sec-Fetch-Site": "same-origin"}  # fmt: skip
    body = urlencode({"note": "hello", name: token}).encode()
    (status, _, text), _ = exchange(port, "POST", page, genuine, body)
    _expect(status in (200, 303), f"secured: the form's own POST got {status}: {text[:200]!r}")


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
    "secured": check_secured,
}
