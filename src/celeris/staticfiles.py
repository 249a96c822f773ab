"""``StaticFiles``: an ASGI app serving a folder (ETag, 304, Range, HEAD; no path escapes).

Mounted in a celeris ``App``, its 404 and 405 are raised as ``HTTPError`` for the App to answer
(so ``@app.exception_handler(404)`` covers them); standalone, it answers them itself.
"""

from __future__ import annotations

import os
import stat
from urllib.parse import quote

from celeris.core.concurrency import run_in_threadpool
from celeris.core.errors import RAISE_HTTP_ERRORS, HTTPError, MethodNotAllowed, NotFound
from celeris.core.responses import FileResponse, RedirectResponse, Response
from celeris.types import Receive, Scope, Send

__all__ = ["StaticFiles"]


def _route_path(scope: Scope) -> str:
    """Return the request path relative to where this app is mounted."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "") or ""
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root) :]
    return path


class StaticFiles:
    """Serve files under ``directory``; ``html=True`` adds index.html and 404.html handling.

    ``fallback="index.html"`` (a single-page app) answers an unknown path under the mount with
    that file and 200, unless the path's last segment has a file extension (``/app.js``).
    """

    __slots__ = ("directory", "fallback", "follow_symlinks", "html")

    def __init__(
        self,
        directory: str | os.PathLike[str],
        html: bool = False,
        check_dir: bool = True,
        follow_symlinks: bool = False,
        fallback: str | None = None,
    ) -> None:
        # SECURITY: the root is resolved once; every served path must stay under it.
        self.directory = os.path.realpath(os.fspath(directory))
        self.html = html
        self.follow_symlinks = follow_symlinks
        if check_dir and not os.path.isdir(self.directory):
            raise RuntimeError(
                f"StaticFiles directory {os.fspath(directory)!r} (resolved to {self.directory!r}) "
                "does not exist or is not a directory; create it or pass check_dir=False."
            )
        self.fallback: str | None = None
        if fallback is not None:
            full = self.resolve("/" + fallback)
            if full is None or (check_dir and not os.path.isfile(full)):
                raise RuntimeError(
                    f"StaticFiles fallback {fallback!r} is not a file in {self.directory!r}; "
                    "pass the path of the page to serve, relative to the directory."
                )
            self.fallback = full

    def resolve(self, path: str) -> str | None:
        """Return the filesystem path for URL ``path``, or None if it is unsafe."""
        # SECURITY: NUL bytes and backslashes are never legitimate in a URL path here, and any
        # ".." segment is refused outright rather than normalised (the path is already
        # percent-decoded, so "%2e%2e" arrives as "..").
        if "\x00" in path or "\\" in path:
            return None
        parts = [p for p in path.split("/") if p and p != "."]
        if any(p == ".." or (":" in p and os.name == "nt") for p in parts):
            return None
        full = os.path.join(self.directory, *parts)
        checked = full if self.follow_symlinks else os.path.realpath(full)
        if checked != self.directory and not checked.startswith(self.directory + os.sep):
            return None
        return full

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request."""
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": ""})
                return
            raise RuntimeError(f"StaticFiles cannot handle {scope['type']!r} scopes")
        try:
            response = await self.get_response(scope)
        except HTTPError as exc:
            if scope.get(RAISE_HTTP_ERRORS):
                raise  # NOTE: the App above answers it with its own handlers
            response = exc.to_response(_accept(scope))
        await response(scope, receive, send)

    async def get_response(self, scope: Scope) -> Response:
        """Return the response for ``scope`` (a file, a redirect, 304/206...).

        A path with no file raises ``NotFound``, a method other than GET or HEAD
        ``MethodNotAllowed``.
        """
        if scope.get("method", "GET") not in ("GET", "HEAD"):
            raise MethodNotAllowed(allow=("GET", "HEAD"))
        path = _route_path(scope)
        full = self.resolve(path)
        if full is not None:
            st = await _stat(full)
            if st is not None and stat.S_ISREG(st.st_mode):
                return FileResponse(full, stat_result=st)
            if st is not None and stat.S_ISDIR(st.st_mode) and self.html:
                index = os.path.join(full, "index.html")
                ist = await _stat(index)
                if ist is not None and stat.S_ISREG(ist.st_mode) and self.resolve_ok(index):
                    if not scope["path"].endswith("/"):
                        # Relative links in the page need the trailing slash.
                        target = quote(scope["path"]) + "/"
                        query = scope.get("query_string", b"")
                        if query:
                            target += "?" + query.decode("latin-1")
                        return RedirectResponse(target, status_code=307)
                    return FileResponse(index, stat_result=ist, media_type="text/html")
        if self.fallback is not None and not os.path.splitext(path.rsplit("/", 1)[-1])[1]:
            # NOTE: a client-side route (/users/7) gets the app's page; a missing asset does not.
            fst = await _stat(self.fallback)
            if fst is not None and stat.S_ISREG(fst.st_mode) and self.resolve_ok(self.fallback):
                return FileResponse(self.fallback, stat_result=fst)
        if self.html:
            page = os.path.join(self.directory, "404.html")
            pst = await _stat(page)
            if pst is not None and stat.S_ISREG(pst.st_mode) and self.resolve_ok(page):
                return FileResponse(page, status_code=404, stat_result=pst, media_type="text/html")
        raise NotFound("No such file.")

    def resolve_ok(self, full: str) -> bool:
        """Tell whether ``full`` (already under the root) is allowed after symlinks."""
        if self.follow_symlinks:
            return True
        real = os.path.realpath(full)
        return real.startswith(self.directory + os.sep)


def _accept(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"accept":
            return bytes(value).decode("latin-1")
    return None


async def _stat(path: str) -> os.stat_result | None:
    try:
        return await run_in_threadpool(os.stat, path)
    except (OSError, ValueError):
        return None
