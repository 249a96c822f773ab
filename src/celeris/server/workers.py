"""Pre-forked workers: a supervisor that shares the port, restarts crashes and rolls restarts.

Each worker slot gets its own listening socket bound with ``SO_REUSEPORT`` (the kernel spreads
connections across them); the supervisor keeps every socket open, so a worker that exits never
drops connections queued on its socket: its replacement inherits the same socket. Where
``SO_REUSEPORT`` is missing, all workers share one socket.

On SIGTERM/SIGINT the port closes first, everywhere: the supervisor closes its copies of the
sockets, then tells the workers to stop, and each worker holds only its own slot's socket, which
it closes before it drains. A socket that stayed open anywhere would keep completing connections
that no worker accepts, and the kernel would reset them; closed, a new connection is refused at
once and a proxy or client can try another node.
"""

from __future__ import annotations

import logging
import os
import re
import select
import signal
import socket
import time
from types import FrameType

from celeris.server.config import Config
from celeris.server.server import Server, bind_sockets, run_worker
from celeris.types import ASGIApp

logger = logging.getLogger("celeris.error")


def empty_metrics_dir(path: str | None) -> int:
    """Delete the metrics files that processes no longer running left in ``path``.

    The prometheus multiprocess trap: the files of a previous run would be counted again.
    Only celeris's snapshots (``celeris-<pid>.json``) and prometheus_client's files
    (``<kind>_<pid>.db``) of pids not alive go; a live process's files stay (another server
    using the same directory: a warning, since its numbers would be merged with ours).
    Return how many files were removed.
    """
    if not path or not os.path.isdir(path):
        return 0
    removed = 0
    shared: set[int] = set()
    for entry in os.scandir(path):
        match = _METRICS_FILE.fullmatch(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(match.group(1) or match.group(2))
        if _alive(pid):
            shared.add(pid)
            continue
        try:
            os.unlink(entry.path)
            removed += 1
        except FileNotFoundError:
            pass
    if removed:
        logger.info("celeris: removed %d stale metrics files from %s", removed, path)
    if shared:
        logger.warning(
            "celeris: PROMETHEUS_MULTIPROC_DIR %s holds the metrics of running processes %s; "
            "give each server its own directory",
            path,
            ", ".join(map(str, sorted(shared))),
        )
    return removed


_METRICS_FILE = re.compile(r"celeris-(\d+)\.(?:json|tmp)|[a-z_]+_(\d+)\.db")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Supervisor:
    """Fork and watch ``config.workers`` worker processes."""

    def __init__(self, config: Config, target: str | ASGIApp) -> None:
        self.config = config
        self.target = target
        self.sockets: list[socket.socket] = []
        self.slots: dict[int, int] = {}  # pid -> slot
        self.stopping = False
        self.reload_requested = False
        self.pid = os.getpid()
        self.ready: dict[int, int] = {}  # pid -> read end of its "started" pipe

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; return the exit code."""
        self.pid = os.getpid()
        # NOTE: inherited by every worker: per-process resources sized as a share of a budget
        # (celeris.db's pool) read it; WEB_CONCURRENCY-style, but ours to set.
        os.environ["CELERIS_WORKERS"] = str(self.config.workers)
        empty_metrics_dir(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.sockets = bind_sockets(self.config, count=self.config.workers)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        logger.info(
            "celeris: supervisor pid %d starting %d workers", os.getpid(), self.config.workers
        )
        for slot in range(self.config.workers):
            self._spawn(slot)
        while not self.stopping:
            if self.reload_requested:
                self.reload_requested = False
                self._rolling_restart()
            self._reap(restart=True)
            time.sleep(0.05)
        return self._stop_all()

    def _socket_for(self, slot: int) -> socket.socket:
        return self.sockets[slot % len(self.sockets)]

    def _spawn(self, slot: int) -> int:
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            os.close(ready_r)
            try:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    signal.signal(sig, signal.SIG_DFL)
                mine = self._socket_for(slot)
                for other in self.sockets:
                    if other is not mine:
                        other.close()  # only the supervisor keeps the other slots' sockets

                def started(server: Server) -> None:
                    os.write(ready_w, b"1")
                    os.close(ready_w)

                code = run_worker(
                    self.config,
                    self.target,
                    [self._socket_for(slot)],
                    started,
                    parent_pid=self.pid,
                )
            except BaseException:
                logger.exception("worker %d failed", os.getpid())
            finally:
                os._exit(code)
        os.close(ready_w)
        self.slots[pid] = slot
        self.ready[pid] = ready_r
        return pid

    def _reap(self, restart: bool) -> None:
        while self.slots:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slot = self.slots.pop(pid, None)
            self._close_ready(pid)
            if slot is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if restart and not self.stopping:
                if code == 3:
                    logger.error("worker %d: application startup failed; stopping", pid)
                    self.stopping = True
                    return
                if code != 0:
                    logger.warning("worker %d exited with %d; restarting", pid, code)
                if slot not in self.slots.values():
                    self._spawn(slot)

    def _rolling_restart(self) -> None:
        # NOTE: start the replacement first, then stop the old worker: the slot's socket never
        # goes unserved, so no queued connection is dropped.
        for old_pid, slot in list(self.slots.items()):
            new_pid = self._spawn(slot)
            if not self._wait_ready(new_pid):
                logger.error("new worker %d did not start; keeping %d", new_pid, old_pid)
                continue
            os.kill(old_pid, signal.SIGTERM)
            self._wait_exit(old_pid, self.config.graceful_timeout + 5)

    def _wait_ready(self, pid: int) -> bool:
        # A worker is ready once it listens: it writes one byte to its pipe (EOF = it died).
        fd = self.ready.get(pid)
        if fd is None:
            return False
        readable, _, _ = select.select([fd], [], [], 60)
        ok = bool(readable) and os.read(fd, 1) == b"1"
        self._close_ready(pid)
        return ok

    def _close_ready(self, pid: int) -> None:
        fd = self.ready.pop(pid, None)
        if fd is not None:
            os.close(fd)

    def _wait_exit(self, pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done:
                break
            time.sleep(0.02)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        self.slots.pop(pid, None)
        self._close_ready(pid)

    def _stop_all(self) -> int:
        # NOTE: stop listening first (see the module docstring), then drain the workers.
        for sock in self.sockets:
            sock.close()
        for pid in list(self.slots):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.config.graceful_timeout + 5
        while self.slots and time.monotonic() < deadline:
            self._reap(restart=False)
            time.sleep(0.02)
        for pid in list(self.slots):
            os.kill(pid, signal.SIGKILL)
        if self.config.uds and os.path.exists(self.config.uds):
            os.unlink(self.config.uds)
        return 0

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self.reload_requested = True
