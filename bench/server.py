"""Start a contender's server pinned to one CPU, wait for it, measure it, stop it."""

from __future__ import annotations

import http.client
import os
import resource
import signal
import socket
import subprocess
import time
from pathlib import Path

from bench.contenders import Contender
from bench.environment import COMPILED

ROOT = Path(__file__).resolve().parent.parent


class ServerError(RuntimeError):
    """A server did not start, or died."""


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def port_free(port: int) -> bool:
    """Tell whether nothing listens on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


class Server:
    """One running contender; ``cold_start_ms`` is spawn to first good response."""

    def __init__(self, contender: Contender, bin_dir: str, port: int, cpu: int, log: Path) -> None:
        self.contender = contender
        self.port = port
        self.argv = ["taskset", "-c", str(cpu), *contender.command(bin_dir, port)]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.cold_start_ms = 0.0

    def start(self, timeout: float = 30.0) -> None:
        """Launch and wait until ``GET /plaintext`` answers 200."""
        deadline = time.monotonic() + 5
        while not port_free(self.port):
            if time.monotonic() > deadline:
                raise ServerError(f"port {self.port} is still busy")
            time.sleep(0.1)
        path = str(ROOT)
        if self.contender.compiled:
            path = os.pathsep.join((str(COMPILED), path))  # its celeris package wins
        env = dict(os.environ, PYTHONPATH=path, PYTHONDONTWRITEBYTECODE="1")
        env.update(self.contender.env)
        env.pop("VIRTUAL_ENV", None)
        with self.log.open("ab") as log:
            began = time.perf_counter()
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_raise_nofile,
            )  # fmt: skip
        limit = time.monotonic() + timeout
        while time.monotonic() < limit:
            if self.proc.poll() is not None:
                raise ServerError(f"exited with {self.proc.returncode}; see {self.log}")
            if self._answers():
                self.cold_start_ms = (time.perf_counter() - began) * 1000
                return
            time.sleep(0.005)
        self.stop()
        raise ServerError(f"no answer within {timeout:g}s; see {self.log}")

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/plaintext")
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def pids(self) -> list[int]:
        """Return the server's pid and all its descendants' (workers included)."""
        if self.proc is None:
            return []
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def rss_kib(self) -> int:
        """Return the resident memory of the whole process tree, in KiB."""
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total

    def sockets(self) -> int:
        """Return how many sockets the whole process tree holds open."""
        total = 0
        for pid in self.pids():
            fd_dir = Path(f"/proc/{pid}/fd")
            try:
                for fd in fd_dir.iterdir():
                    try:
                        total += os.readlink(fd).startswith("socket:")
                    except OSError:
                        continue
            except OSError:
                continue
        return total

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL it after 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
