"""The admin benchmark's load: N staff browsers, each signed in, looping over the admin pages.

Run in the peer venv (aiohttp), in its own process; the spec comes as one JSON argument:

  python bench/admin/load.py '{"base": "http://127.0.0.1:8000", "login": {...}, ...}'

and one JSON line comes out: for each side of ``sides``, per page and overall, the count,
p50/p90/p99 in ms, the errors and the requests per second, for a ``solo`` phase (one browser,
each page in turn, no concurrency: what one page costs) and the ``loaded`` phase (``sessions``
browsers at once). The sides are loaded in turn, ``rounds`` times in a rotating order, each
turn a share of ``warmup`` (not counted) then of ``duration``: load from the rest of the machine
that comes and goes falls on every side alike.

Each browser is its own staff account (``{n}`` in the user name: 1, 2, ...) with its own
cookie jar and its own connection from its own loopback address (127.0.0.N): it opens the login page, posts the credentials with every hidden field of the form
(the CSRF token), keeps the cookies it is given, and checks that the dashboard then answers 200.
A page counts as an error unless it answers 200 with HTML (a redirect to the login page is an
error, not a page); any error is reported, and the harness marks that side INVALID.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.admin.seed import title

TIMEOUT = aiohttp.ClientTimeout(total=30)


class LoginForm(HTMLParser):
    """The first form holding a password field: its action and its hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": values.get("action", ""), "hidden": {}, "pw": False})
        elif tag == "input" and self.forms:
            kind = values.get("type", "text").lower()
            if kind == "hidden" and values.get("name"):
                self.forms[-1]["hidden"][values["name"]] = values.get("value", "")
            elif kind == "password":
                self.forms[-1]["pw"] = True

    def login(self) -> dict[str, Any]:
        for form in self.forms:
            if form["pw"]:
                return form
        raise RuntimeError("the login page has no form with a password field")


def book_id(number: int, rows: int) -> int:
    """A row id spread over the table: a different book on each request."""
    return 1 + (number * 7919) % max(rows, 1)


def page_url(page: dict[str, str], number: int, rows: int) -> tuple[str, bytes]:
    """The page's path with ``{id}`` filled in, and the text its body must hold."""
    book = book_id(number, rows)
    expect = page.get("expect", "").replace("{title}", title(book))
    return page["path"].replace("{id}", str(book)), expect.encode()


async def sign_in(base: str, spec: dict[str, Any], number: int) -> aiohttp.ClientSession:
    login = spec["login"]
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=1, local_addr=(f"127.0.0.{10 + number}", 0)),
        cookie_jar=aiohttp.CookieJar(unsafe=True),  # NOTE: keep cookies of an IP-address host
        timeout=TIMEOUT,
    )
    try:
        url = urljoin(base, login["page"])
        async with session.get(url) as reply:
            text = await reply.text()
            if reply.status != 200:
                raise RuntimeError(f"GET {login['page']}: {reply.status}")
        parser = LoginForm()
        parser.feed(text)
        form = parser.login()
        data = dict(form["hidden"])
        data[login["user_field"]] = login["user"].replace("{n}", str(number + 1))
        data[login["password_field"]] = login["password"]
        target = urljoin(str(reply.url), form["action"] or str(reply.url))
        headers = {"Origin": base, "Referer": str(reply.url)}
        async with session.post(target, data=data, headers=headers, allow_redirects=False) as r:
            body = await r.text()
            if r.status not in (302, 303):
                raise RuntimeError(f"POST {target}: {r.status} {body[:300]!r}")
        async with session.get(urljoin(base, spec["check"]), allow_redirects=False) as r:
            if r.status != 200:
                raise RuntimeError(f"signed in, but {spec['check']} answers {r.status}")
            await r.read()
    except BaseException:
        await session.close()
        raise
    return session


async def fetch(
    session: aiohttp.ClientSession, url: str, expect: bytes = b""
) -> tuple[float, str | None]:
    began = time.perf_counter()
    try:
        async with session.get(url, allow_redirects=False) as reply:
            body = await reply.read()
            took = time.perf_counter() - began
            if reply.status != 200:
                return took, f"{reply.status}"
            if not reply.content_type.startswith("text/html") or not body:
                return took, f"{reply.status} {reply.content_type}, {len(body)} bytes"
            if expect not in body:
                return took, f"200 without {expect.decode()!r}"
            return took, None
    except (aiohttp.ClientError, TimeoutError) as exc:
        return time.perf_counter() - began, type(exc).__name__


def summary(times: list[float], errors: list[str], seconds: float) -> dict[str, Any]:
    ms = sorted(t * 1000 for t in times)
    cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {
        "count": len(ms),
        "p50": round(statistics.median(ms), 2) if ms else None,
        "p90": round(cuts[89], 2) if ms else None,
        "p99": round(cuts[98], 2) if ms else None,
        "rps": round(len(ms) / seconds, 1) if seconds else None,
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
    }


class Recorder:
    def __init__(self, pages: list[dict[str, str]]) -> None:
        self.times: dict[str, list[float]] = {p["name"]: [] for p in pages}
        self.errors: dict[str, list[str]] = {p["name"]: [] for p in pages}

    def add(self, name: str, took: float, error: str | None) -> None:
        self.times[name].append(took)
        if error is not None:
            self.errors[name].append(error)

    def report(self, seconds: float) -> dict[str, Any]:
        out = {name: summary(t, self.errors[name], seconds) for name, t in self.times.items()}
        every = [t for ts in self.times.values() for t in ts]
        out["overall"] = summary(every, [e for es in self.errors.values() for e in es], seconds)
        return out


async def browse(
    session: aiohttp.ClientSession,
    side: dict[str, Any],
    rows: int,
    number: int,
    until: float,
    recorder: Recorder | None,
) -> None:
    pages, base = side["pages"], side["base"]
    while time.perf_counter() < until:
        page = pages[number % len(pages)]
        number += 1
        path, expect = page_url(page, number, rows)
        took, error = await fetch(session, urljoin(base, path), expect)
        if recorder is not None:
            recorder.add(page["name"], took, error)


async def sign_in_all(side: dict[str, Any], count: int) -> list[aiohttp.ClientSession]:
    # NOTE: a few sign-ins at a time (they are the password hash's cost, not the admin's)
    gate = asyncio.Semaphore(4)
    made: list[aiohttp.ClientSession] = []

    async def one(i: int) -> None:
        async with gate:
            made.append(await sign_in(side["base"], side, i))

    try:
        await asyncio.gather(*(one(i) for i in range(count)))
    except BaseException:
        await asyncio.gather(*(s.close() for s in made))
        raise
    return made


async def solo(side: dict[str, Any], session: aiohttp.ClientSession, spec: dict[str, Any]) -> Any:
    """One browser, each page ``solo`` times, one request at a time."""
    recorder = Recorder(side["pages"])
    for n in range(spec["solo"]):
        for page in side["pages"]:
            path, expect = page_url(page, n + 7, spec["rows"])
            took, error = await fetch(session, urljoin(side["base"], path), expect)
            recorder.add(page["name"], took, error)
    return recorder.report(0)


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    """Sign in everywhere, then take the sides in turn, ``rounds`` times (order rotating)."""
    sides = spec["sides"]
    browsers: dict[str, list[aiohttp.ClientSession]] = {}
    out: dict[str, Any] = {}
    try:
        for side in list(sides):
            began = time.perf_counter()
            shared = side.get("browsers_of")
            try:
                if shared in browsers:  # the same server: its signed-in browsers serve again
                    browsers[side["name"]] = browsers[shared]
                else:
                    browsers[side["name"]] = await sign_in_all(side, spec["sessions"])
            except (RuntimeError, aiohttp.ClientError, TimeoutError) as exc:
                out[side["name"]] = {"error": f"sign-in failed: {exc}"}
                continue
            out[side["name"]] = {
                "sessions": spec["sessions"],
                "sign_in_s": round(time.perf_counter() - began, 2),
            }
        sides = [side for side in sides if side["name"] in browsers]
        for side in sides:
            out[side["name"]]["solo"] = await solo(side, browsers[side["name"]][0], spec)
        recorders = {side["name"]: Recorder(side["pages"]) for side in sides}
        seconds = dict.fromkeys(recorders, 0.0)
        rounds = spec["rounds"]
        number = 0
        for turn in range(rounds):
            for side in sides[turn % len(sides) :] + sides[: turn % len(sides)]:
                sessions = browsers[side["name"]]
                for phase, length in (("warm-up", spec["warmup"]), ("timed", spec["duration"])):
                    recorder = recorders[side["name"]] if phase == "timed" else None
                    start = time.perf_counter()
                    until = start + length / rounds
                    await asyncio.gather(
                        *(
                            browse(s, side, spec["rows"], number + i * 1009, until, recorder)
                            for i, s in enumerate(sessions)
                        )
                    )
                    number += 7
                    if recorder is not None:
                        seconds[side["name"]] += time.perf_counter() - start
        for name, recorder in recorders.items():
            out[name]["loaded"] = recorder.report(seconds[name])
            out[name]["seconds"] = round(seconds[name], 2)
        return out
    finally:
        every = {id(s): s for group in browsers.values() for s in group}
        await asyncio.gather(*(s.close() for s in every.values()))


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - the peer venv has it
        pass
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
