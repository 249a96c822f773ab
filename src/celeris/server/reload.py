"""``--reload``: restart the server process whenever a watched source file changes."""

from __future__ import annotations

import logging
import os
import signal
import socket
from pathlib import Path
from types import FrameType

import watchfiles

from celeris.server.config import Config
from celeris.server.server import bind_sockets, run_worker

logger = logging.getLogger("celeris.error")


def _python_and_templates(change: watchfiles.Change, path: str) -> bool:
    return path.endswith((".py", ".html", ".jinja", ".toml", ".env"))


class Reloader:
    """Run the app in a child process and replace it when files under ``paths`` change."""

    def __init__(self, config: Config, target: str, paths: list[Path] | None = None) -> None:
        if not isinstance(target, str):
            raise TypeError(
                "reload needs the app as an import string such as 'main:app', "
                "so the new process can import the changed code"
            )
        self.config = config
        self.target = target
        self.paths = paths or [Path.cwd()]
        self.child = 0
        self.stopping = False

    def run(self) -> int:
        """Serve and reload until SIGTERM/SIGINT."""
        sockets = bind_sockets(self.config)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop)
        self.child = self._spawn(sockets)
        for changes in watchfiles.watch(
            *self.paths,
            watch_filter=_python_and_templates,
            rust_timeout=200,
            yield_on_timeout=True,
            raise_interrupt=False,
        ):
            if self.stopping:
                break
            if changes:
                logger.info("celeris: %d file(s) changed; reloading", len(changes))
                self._stop_child()
                self.child = self._spawn(sockets)
        for sock in sockets:  # stop listening first, as the supervisor does (workers.py)
            sock.close()
        self._stop_child()
        return 0

    def _spawn(self, sockets: list[socket.socket]) -> int:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                code = run_worker(self.config, self.target, sockets, parent_pid=parent)
            except BaseException:
                logger.exception("reloaded server failed")
            finally:
                os._exit(code)
        return pid

    def _stop_child(self) -> None:
        if self.child:
            try:
                os.kill(self.child, signal.SIGTERM)
                os.waitpid(self.child, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.child = 0

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
