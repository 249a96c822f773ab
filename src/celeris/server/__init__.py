"""celeris.server: HTTP/1.1 and WebSockets on uvloop + httptools, for any ASGI 3 app.

``run(target, **options)`` serves ``target`` (an ASGI app or a ``"module:attr"`` string) with
the options of ``celeris.server.config.Config``. celeris apps are served by their fast lane.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from celeris.server.config import Config
from celeris.server.importer import ImportFromStringError, import_from_string
from celeris.server.server import (
    Server,
    bind_sockets,
    configure_logging,
    exit_code_of,
    make_config,
    run_worker,
)
from celeris.server.workers import Supervisor
from celeris.types import ASGIApp

__all__ = [
    "Config",
    "ImportFromStringError",
    "MissingExtraError",
    "Server",
    "import_from_string",
    "run",
]

RELOAD_HINT = "--reload needs watchfiles: pip install 'celeris[reload]'"


class MissingExtraError(RuntimeError):
    """An option needs a library from an extra that is not installed (the message names it)."""


def reload_available() -> bool:
    """Tell whether ``reload=True`` can run (watchfiles, from ``celeris[reload]``, is installed)."""
    return importlib.util.find_spec("watchfiles") is not None


def _reload(config: Config, target: str) -> int:
    # NOTE: imported only when reload is asked for: watchfiles is in the `reload` extra, and
    # `pip install celeris` alone must serve (DESIGN.md: an implementation loads when chosen).
    try:
        reload = importlib.import_module("celeris.server.reload")
    except ModuleNotFoundError as exc:
        if exc.name != "watchfiles":
            raise
        raise MissingExtraError(RELOAD_HINT) from None
    code: int = reload.Reloader(config, target).run()
    return code


def run(target: str | ASGIApp, **options: Any) -> None:
    """Serve ``target`` until SIGTERM/SIGINT (exits the process with a non-zero code on failure)."""
    config = make_config(**options)
    configure_logging(config.log_level)
    if config.reload:
        if not isinstance(target, str):
            raise TypeError("reload=True needs the app as an import string such as 'main:app'")
        exit_code_of(_reload(config, target))
    elif config.workers > 1 or config.max_requests is not None:
        # NOTE: recycling after max_requests needs a supervisor to start the replacement.
        exit_code_of(Supervisor(config, target).run())
    else:
        if isinstance(target, str):
            # fail fast, before binding
            import_from_string(target, factory=config.factory, interface=config.interface)
        exit_code_of(run_worker(config, target, bind_sockets(config)))
