"""The contender registry: one declarative entry per framework-on-server.

To add a contender, write ``bench/apps/<name>_app.py`` answering the endpoints of
``bench/README.md`` and add one ``Contender`` below. ``{port}`` and ``{bin}`` (the peer venv's
``bin`` folder) are filled in at launch; every server runs one worker on uvloop/httptools
where the server supports them. Every server's idle keep-alive timeout is set to 60 s (the
only change from its defaults besides logging) so that the idle-connections test can hold
its connections; it does not affect the throughput tests, whose connections are never idle.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

REFERENCE = "celeris"


@dataclass(frozen=True)
class Contender:
    """One framework on one server."""

    name: str
    framework: str
    server: str
    module: str
    argv: tuple[str, ...]
    skip: frozenset[str] = field(default_factory=frozenset)
    note: str = ""
    env: tuple[tuple[str, str], ...] = ()
    compiled: bool = False  # run the mypyc-compiled build of celeris (bench/.work/compiled)
    # (app, module) pairs: the module that serves the tests whose ``Workload.app`` is ``app``
    # (see bench/workloads.py); a contender without one does not run those tests.
    apps: tuple[tuple[str, str], ...] = ()

    def module_for(self, app: str) -> str | None:
        """Return the module serving the tests of ``app`` ("" = the main app), or None."""
        return self.module if not app else dict(self.apps).get(app)

    def for_app(self, app: str) -> Contender:
        """Return this contender launching the module of ``app`` instead of its main one."""
        module = self.module_for(app)
        if module is None:
            raise KeyError(f"{self.name} has no {app!r} app")
        return replace(self, module=module)

    def command(self, bin_dir: str, port: int) -> list[str]:
        """Return the launch command for ``port`` with the peer venv's ``bin_dir``."""
        return [part.format(bin=bin_dir, port=port, module=self.module) for part in self.argv]


UVICORN = (
    "{bin}/uvicorn", "{module}:app", "--port", "{port}", "--workers", "1", "--loop", "uvloop",
    "--http", "httptools", "--ws", "websockets-sansio", "--no-access-log", "--log-level", "warning",
    "--timeout-keep-alive", "60",
)  # fmt: skip
GRANIAN = (
    "{bin}/granian", "--interface", "asgi", "--port", "{port}", "--workers", "1",
    "--loop", "uvloop", "--http", "1", "--backpressure", "20000", "--log-level", "warning",
    "{module}:app",
)  # fmt: skip


NO_WS = frozenset({"websocket"})
# The secured-page test (issue 12): each framework's own sessions, CSRF and security headers,
# switched on app-wide in an app of their own so that the other tests stay as they were.
SECURED = "secured"
SECURED_ONLY = frozenset(
    {"plaintext", "json", "pipelined", "params", "post", "db", "queries", "fortunes", "updates",
     "websocket", "idle", "coldstart"}
)  # fmt: skip
# The ORM contenders exist for issue 6's comparison: single query and fortunes through an ORM.
ORM_ONLY = frozenset(
    {"plaintext", "json", "pipelined", "params", "post", "queries", "updates", "websocket",
     "idle", "coldstart"}
)  # fmt: skip

# Issue 13 adds the 20-queries and 20-updates tests through the ORM.
ORM_TESTS_ONLY = ORM_ONLY - {"queries", "updates"}

CONTENDERS: tuple[Contender, ...] = (
    Contender(
        "celeris", "celeris", "celeris", "bench.apps.celeris_app",
        ("{bin}/python", "-m", "celeris", "serve", "{module}:app", "--port", "{port}",
         "--workers", "1", "--no-access-log", "--timeout-keep-alive", "60"),
        apps=((SECURED, "bench.apps.celeris_secured"),),
    ),
    Contender(
        "celeris-compiled", "celeris", "celeris", "bench.apps.celeris_app",
        ("{bin}/python", "-m", "celeris", "serve", "{module}:app", "--port", "{port}",
         "--workers", "1", "--no-access-log", "--timeout-keep-alive", "60"),
        compiled=True, note="the same source built as the mypyc wheel (see pyproject.toml)",
    ),
    Contender(
        "celeris-uvicorn", "celeris", "uvicorn", "bench.apps.celeris_app", UVICORN,
        apps=((SECURED, "bench.apps.celeris_secured"),),
    ),
    Contender("celeris-granian", "celeris", "granian", "bench.apps.celeris_app", GRANIAN),
    Contender("fastapi", "fastapi", "uvicorn", "bench.apps.fastapi_app", UVICORN),
    Contender("starlette", "starlette", "uvicorn", "bench.apps.starlette_app", UVICORN),
    Contender(
        "litestar", "litestar", "uvicorn", "bench.apps.litestar_app", UVICORN,
        apps=((SECURED, "bench.apps.litestar_secured"),),
    ),
    Contender(
        "litestar-serverside", "litestar", "uvicorn", "bench.apps.litestar_secured_server",
        UVICORN, skip=SECURED_ONLY, apps=((SECURED, "bench.apps.litestar_secured_server"),),
        note="the secured page only, on Litestar's server-side sessions (memory store)",
    ),
    Contender(
        "blacksheep-granian", "blacksheep", "granian", "bench.apps.blacksheep_app", GRANIAN,
        apps=((SECURED, "bench.apps.blacksheep_secured"),),
    ),
    Contender(
        "blacksheep-uvicorn", "blacksheep", "uvicorn", "bench.apps.blacksheep_app", UVICORN,
        apps=((SECURED, "bench.apps.blacksheep_secured"),),
    ),
    Contender(
        "sanic", "sanic", "sanic", "bench.apps.sanic_app",
        ("{bin}/sanic", "{module}:app", "--port", "{port}", "--single-process",
         "--no-access-logs", "--no-motd"),
        env=(("SANIC_KEEP_ALIVE_TIMEOUT", "60"),),
    ),
    Contender("falcon", "falcon", "uvicorn", "bench.apps.falcon_app", UVICORN),
    Contender(
        "django", "django", "uvicorn", "bench.apps.django_app", UVICORN, skip=NO_WS,
        note="Django has no WebSocket support without Channels",
        apps=((SECURED, "bench.apps.django_secured"),),
    ),
    Contender(
        "django-gunicorn", "django", "gunicorn", "bench.apps.django_secured_wsgi",
        ("{bin}/gunicorn", "{module}:app", "--bind", "127.0.0.1:{port}", "--workers", "1",
         "--worker-class", "gthread", "--threads", "8", "--worker-connections", "20000",
         "--keep-alive", "60", "--log-level", "warning"),
        skip=SECURED_ONLY, apps=((SECURED, "bench.apps.django_secured_wsgi"),),
        note="the secured page only: Django's classic deployment, WSGI on gunicorn (gthread, "
        "8 threads), where its sync middleware needs no thread hop",
    ),
    Contender(
        "flask", "flask", "gunicorn", "bench.apps.flask_app",
        ("{bin}/gunicorn", "{module}:app", "--bind", "127.0.0.1:{port}", "--workers", "1",
         "--worker-class", "gthread", "--threads", "8", "--worker-connections", "20000",
         "--keep-alive", "60", "--log-level", "warning"),
        skip=NO_WS, note="WSGI: no WebSockets; gthread worker, 8 threads, psycopg",
    ),
    Contender(
        "celeris-orm", "celeris", "celeris", "bench.apps.celeris_orm_app",
        ("{bin}/python", "-m", "celeris", "serve", "{module}:app", "--port", "{port}",
         "--workers", "1", "--no-access-log", "--timeout-keep-alive", "60"),
        skip=ORM_TESTS_ONLY,
        note="celeris.db (SQLAlchemy 2, asyncpg): db.reader for reads, db.session for updates",
    ),
    Contender(
        "fastapi-orm", "fastapi", "uvicorn", "bench.apps.fastapi_orm_app", UVICORN,
        skip=ORM_TESTS_ONLY, note="SQLAlchemy 2 asyncio (asyncpg), FastAPI's SQL guide",
    ),
    Contender(
        "raw-uvloop", "(none)", "uvloop+httptools", "bench.apps.raw_app",
        ("{bin}/python", "-m", "{module}", "{port}"),
        skip=NO_WS, note="the floor: no framework, no WebSockets",
    ),
)  # fmt: skip

BY_NAME = {c.name: c for c in CONTENDERS}
