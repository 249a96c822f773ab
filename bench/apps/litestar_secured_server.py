"""Litestar's secured page on server-side sessions (``ServerSideSessionConfig``, the app's
default memory store): only a session id in the cookie, no encryption per request."""

from __future__ import annotations

from litestar.middleware.session.server_side import ServerSideSessionConfig

from bench.apps.litestar_secured import make_app

app = make_app(ServerSideSessionConfig().middleware)
