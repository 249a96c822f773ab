"""One worker's server: sockets, the event loop, signals, the Date tick and graceful stop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
import sys
from collections.abc import Callable
from typing import Any, cast

from celeris.server import protocol
from celeris.server.config import Config
from celeris.server.importer import import_from_string
from celeris.server.lifespan import Lifespan, LifespanError
from celeris.server.protocol import HttpProtocol
from celeris.server.state import ServerState
from celeris.server.wsgi import INTERFACES, as_asgi, is_wsgi
from celeris.types import ASGIApp, FastLaneApp, fast_lane_of

logger = logging.getLogger("celeris.error")

EXIT_STARTUP_FAILED = 3


def configure_logging(level: str) -> None:
    """Show logs the way ``celeris serve`` promises, unless the user configured logging already.

    Every logger (the app's too) goes to stderr as ``LEVEL: message`` at ``level``; the access
    log goes to stdout as bare lines (common or JSON lines, no prefix).
    """
    root = logging.getLogger()
    celeris = logging.getLogger("celeris")
    celeris.setLevel(level.upper())
    if root.handlers or celeris.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(handler)
    # NOTE: the root's level, so that an app's own logger.info() shows, as with print().
    root.setLevel(level.upper())
    access = logging.getLogger("celeris.access")
    lines = logging.StreamHandler(sys.stdout)
    lines.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(lines)
    access.propagate = False


def bind_sockets(config: Config, count: int = 1) -> list[socket.socket]:
    """Bind ``count`` listening sockets (more than one only with SO_REUSEPORT)."""
    if config.uds:
        if os.path.exists(config.uds):
            os.unlink(config.uds)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(config.uds)
        os.chmod(config.uds, 0o666)
        sock.listen(config.backlog)
        sock.set_inheritable(True)
        return [sock]
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sockets: list[socket.socket] = []
    port = config.port
    reuse_port = count > 1 and hasattr(socket, "SO_REUSEPORT")
    for _ in range(count if reuse_port else 1):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((config.host, port))
        except OSError as exc:
            sock.close()
            for other in sockets:
                other.close()
            raise OSError(exc.errno, f"cannot bind {config.host}:{port}: {exc.strerror}") from exc
        port = sock.getsockname()[1]
        sock.listen(config.backlog)
        sock.set_inheritable(True)
        sockets.append(sock)
    return sockets


def ssl_context(config: Config) -> ssl.SSLContext | None:
    """Build the TLS context for ``--ssl-certfile/--ssl-keyfile``."""
    if not config.ssl_certfile:
        if config.ssl_keyfile:
            raise ValueError("ssl_keyfile given without ssl_certfile")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.ssl_certfile, config.ssl_keyfile)
    context.set_alpn_protocols(["http/1.1"])
    return context


def new_event_loop(config: Config) -> asyncio.AbstractEventLoop:
    """Create the event loop: uvloop when available (or asked for), else asyncio."""
    if config.loop in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if config.loop == "uvloop":
                raise
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()


def build_kind() -> str:
    """Say how the per-request modules run: ``compiled`` (the mypyc build) or ``pure Python``."""
    return "compiled" if (protocol.__file__ or "").endswith((".so", ".pyd")) else "pure Python"


class Server:
    """Serve one ASGI app on already-bound sockets until told to stop."""

    def __init__(self, config: Config, app: ASGIApp) -> None:
        self.config = config
        self.app = app
        self.state = ServerState(config, app)
        self.stop_event: asyncio.Event | None = None
        self.servers: list[asyncio.Server] = []
        self.listening: list[socket.socket] = []
        self.protocol_factory: Callable[[], HttpProtocol] | None = None
        self.tls: ssl.SSLContext | None = None
        self.started: asyncio.Event | None = None
        self.ports: list[int] = []
        self.force_exit = False
        self.on_started: Callable[[Server], None] | None = None
        self.parent_pid: int | None = None  # a worker stops if its supervisor dies

    def request_stop(self) -> None:
        """Begin a graceful stop (a second call forces it)."""
        if self.stop_event is None:
            return
        if self.stop_event.is_set():
            self.force_exit = True
        self.stop_event.set()

    async def serve(self, sockets: list[socket.socket]) -> None:
        """Run startup, serve until a stop signal, then shut down gracefully."""
        loop = asyncio.get_running_loop()
        self.stop_event = asyncio.Event()
        self.started = self.started or asyncio.Event()
        self.state.on_max_requests = self.stop_event
        lifespan = Lifespan(self.app, self.state.lifespan_state)
        await lifespan.startup()
        if self.config.fast_lane:
            self.state.fast = fast_lane_of(self.app)
        context = ssl_context(self.config)
        state = self.state

        def factory() -> HttpProtocol:
            return HttpProtocol(state)

        self.protocol_factory, self.tls, self.listening = factory, context, list(sockets)

        for sock in sockets:
            server = await loop.create_server(
                factory, sock=sock, ssl=context, backlog=self.config.backlog
            )
            self.servers.append(server)
            name = sock.getsockname()
            if isinstance(name, tuple):
                self.ports.append(name[1])
                scheme = "https" if context else "http"
                logger.info(
                    "celeris: listening on %s://%s:%d (pid %d, %s)",
                    scheme,
                    name[0],
                    name[1],
                    os.getpid(),
                    build_kind(),
                )
            else:
                logger.info(
                    "celeris: listening on unix:%s (pid %d, %s)", name, os.getpid(), build_kind()
                )
        ticker = loop.create_task(self._tick())
        self.started.set()
        if self.on_started is not None:
            self.on_started(self)
        try:
            await self.stop_event.wait()
        finally:
            ticker.cancel()
            await self._shutdown()
            await lifespan.shutdown()

    def _accept_backlog(self) -> list[asyncio.Task[Any]]:
        """Accept the connections already queued on the listening sockets, to serve them.

        Closing a listening socket resets every connection the kernel queued on it but no one
        accepted yet (their clients sent a request that will never be answered); accepted
        here, each is served like one accepted just before the stop.
        """
        loop = asyncio.get_running_loop()
        factory = self.protocol_factory
        tasks: list[asyncio.Task[Any]] = []
        if factory is None:
            return tasks
        for sock in self.listening:
            try:
                sock.setblocking(False)
            except OSError:
                continue  # closed already
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:  # BlockingIOError: the queue is empty; or the socket is gone
                    break
                conn.setblocking(False)
                tasks.append(
                    loop.create_task(loop.connect_accepted_socket(factory, conn, ssl=self.tls))
                )
        return tasks

    async def _tick(self) -> None:
        config = self.config
        interval = min(1.0, config.timeout_keep_alive / 4, config.timeout_request_header / 4)
        loop = asyncio.get_running_loop()
        headers = self.state.headers
        connections = self.state.connections
        while True:
            await asyncio.sleep(max(interval, 0.01))
            headers.tick()
            if self.state.drivers is not None:
                self.state.drivers.trim()
            if self.parent_pid is not None and os.getppid() != self.parent_pid:
                logger.error("celeris: supervisor %d is gone; stopping", self.parent_pid)
                self.request_stop()
            now = loop.time()
            # PERF: one sweep a tick instead of a timer handle per connection.
            for conn in list(connections):
                conn.check_timeouts(now)

    async def _shutdown(self) -> None:
        state = self.state
        state.shutting_down = True
        backlog = self._accept_backlog()
        for server in self.servers:
            server.close()  # stop accepting
        if backlog:
            await asyncio.gather(*backlog, return_exceptions=True)
        for conn in list(state.connections):
            conn.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.graceful_timeout
        # Connections accepted just before the stop get a moment to send their request.
        fresh_until = loop.time() + min(1.0, self.config.graceful_timeout)
        while state.connections and loop.time() < deadline and not self.force_exit:
            now = loop.time()
            force = now >= fresh_until
            for conn in list(state.connections):
                conn.check_timeouts(now)  # idle keep-alive ones close at their timer
                conn.shutdown(force)
            await asyncio.sleep(0.02)
        for conn in list(state.connections):
            transport = getattr(conn, "transport", None)
            if transport is not None:
                transport.abort()
        await asyncio.sleep(0)


def load_app(target: str | ASGIApp, config: Config) -> ASGIApp:
    """Resolve ``target`` (an app or ``module:attr``) into an ASGI app.

    A WSGI app (``--interface``) is wrapped to run on ``--wsgi-threads`` threads; ``--debug``
    turns on a celeris app's ``debug`` (tracebacks in its 500 responses).
    """
    app: ASGIApp = import_from_string(target, factory=config.factory, interface=config.interface)
    if config.interface == "wsgi" or (config.interface == "auto" and is_wsgi(app)):
        return as_asgi(app, config.wsgi_threads)
    if config.debug and isinstance(app, FastLaneApp) and hasattr(app, "debug"):
        # NOTE: the server never imports the core: a celeris app is known by its fast lane.
        cast(Any, app).debug = True
    return app


def run_worker(
    config: Config,
    target: str | ASGIApp,
    sockets: list[socket.socket],
    on_started: Callable[[Server], None] | None = None,
    parent_pid: int | None = None,
) -> int:
    """Serve in this process until stopped; return the exit code."""
    app = load_app(target, config)
    server = Server(config, app)
    loop = new_event_loop(config)
    asyncio.set_event_loop(loop)
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, server.request_stop)
        server.on_started = on_started
        server.parent_pid = parent_pid
        loop.run_until_complete(server.serve(sockets))
    except LifespanError as exc:
        logger.error("%s", exc)
        return EXIT_STARTUP_FAILED
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        _cancel_all(loop)
        loop.close()
        asyncio.set_event_loop(None)
    return 0


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


def make_config(**options: Any) -> Config:
    """Build a ``Config`` from keyword options, naming any unknown one."""
    known = set(Config.option_names())
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(
            f"unknown server option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    config = Config(**options)
    if config.workers < 1:
        raise ValueError("workers must be at least 1")
    if config.wsgi_threads < 1:
        raise ValueError("wsgi_threads must be at least 1")
    if config.access_log_format not in ("common", "json"):
        raise ValueError("access_log_format must be 'common' or 'json'")
    if config.interface not in INTERFACES:
        raise ValueError(f"interface must be one of {', '.join(INTERFACES)}")
    return config


def exit_code_of(code: int) -> None:
    """Exit the process with ``code`` when it is not zero."""
    if code:
        sys.exit(code)
