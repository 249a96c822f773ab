"""Real server processes: signals, graceful stop, workers, crashes, rolling restarts, recycling."""

from __future__ import annotations

import http.client
import os
import queue
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

APP = textwrap.dedent(
    """
    import asyncio, os, sys

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if os.environ.get("FAIL_STARTUP"):
                        await send({"type": "lifespan.startup.failed", "message": "cannot reach the database"})
                        return
                    await send({"type": "lifespan.startup.complete"})
                else:
                    marker = os.environ.get("SHUTDOWN_MARKER")
                    if marker:
                        with open(marker, "a") as f:
                            f.write("shutdown %d\\n" % os.getpid())
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = scope["path"]
        if path == "/slow":
            await asyncio.sleep(1.0)
        if path == "/crash":
            os._exit(1)
        body = os.environ.get("CELERIS_WORKERS", "-") if path == "/workers" else str(os.getpid())
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body.encode()})
    """
)


class Running:
    def __init__(
        self,
        proc: subprocess.Popen[str],
        port: int,
        lines: queue.Queue[str],
        pump: threading.Thread,
    ) -> None:
        self.pump = pump
        self.proc = proc
        self.port = port
        self.lines = lines

    def get(self, path: str = "/", timeout: float = 10) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()


def _pythonpath(first: Path) -> str:
    """``first``, then the PYTHONPATH the tests run with (it may name the sources under test)."""
    return os.pathsep.join(p for p in (str(first), os.environ.get("PYTHONPATH", "")) if p)


def _start(tmp_path: Path, env: dict[str, str] | None = None, **options: object) -> Running:
    (tmp_path / "e2e_server_app.py").write_text(APP)
    args = ", ".join(f"{k}={v!r}" for k, v in options.items())
    code = f"from celeris.server import run; run('e2e_server_app:app', port=0, access_log=False, {args})"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": _pythonpath(tmp_path), **(env or {})},
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)

    pumping = threading.Thread(target=pump, daemon=True)
    pumping.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        if "listening on http://" in line:
            return Running(proc, int(line.rsplit(":", 1)[1].split()[0]), lines, pumping)
    proc.kill()
    raise AssertionError("server did not start")


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[object]:
    started: list[Running] = []

    def factory(env: dict[str, str] | None = None, **options: object) -> Running:
        running = _start(tmp_path, env, **options)
        started.append(running)
        return running

    yield factory
    for running in started:
        if running.proc.poll() is None:
            running.proc.kill()
        running.proc.wait()
        running.pump.join(10)
        if running.proc.stderr is not None:
            running.proc.stderr.close()


def _drain(lines: queue.Queue[str]) -> str:
    out = []
    while not lines.empty():
        out.append(lines.get())
    return "".join(out)


def test_sigterm_finishes_in_flight_requests_runs_shutdown_and_exits_0(
    server_factory, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "shutdown.txt"
    server = server_factory(env={"SHUTDOWN_MARKER": str(marker)})
    result: list[tuple[int, str]] = []
    thread = threading.Thread(target=lambda: result.append(server.get("/slow")))
    thread.start()
    time.sleep(0.3)
    server.proc.send_signal(signal.SIGTERM)
    thread.join(10)
    assert result
    assert result[0][0] == 200
    assert server.proc.wait(10) == 0
    assert marker.read_text().startswith("shutdown")


def test_startup_failure_stops_the_server_with_the_apps_error(tmp_path: Path) -> None:
    (tmp_path / "e2e_server_app.py").write_text(APP)
    proc = subprocess.run(
        [sys.executable, "-c", "from celeris.server import run; run('e2e_server_app:app', port=0)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": _pythonpath(tmp_path), "FAIL_STARTUP": "1"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 3
    assert "cannot reach the database" in proc.stderr


def test_bad_target_gives_a_precise_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from celeris.server import run; run('nosuchmodule_xyz:app', port=0)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0
    assert 'Could not import module "nosuchmodule_xyz"' in proc.stderr


def test_workers_share_the_port_and_a_crashed_worker_is_replaced(server_factory) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(workers=2)
    pids = {server.get()[1] for _ in range(60)}
    assert len(pids) == 2
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        server.get("/crash")
    time.sleep(1.0)
    after = {server.get()[1] for _ in range(60)}
    assert len(after) == 2
    assert after != pids
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(15) == 0


def test_each_worker_knows_how_many_workers_share_the_server(server_factory) -> None:  # type: ignore[no-untyped-def]
    # NOTE: celeris.db sizes each worker's pool from CELERIS_WORKERS (a share of the database's
    # connection budget); the supervisor is the one place that knows the count.
    server = server_factory(workers=2)
    assert {server.get("/workers")[1] for _ in range(20)} == {"2"}
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(15) == 0


def test_sighup_rolling_restart_under_load_fails_no_request(server_factory) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(workers=2)
    before = {server.get()[1] for _ in range(40)}
    failures: list[BaseException] = []
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                statuses.append(server.get()[0])
            except BaseException as exc:  # noqa: BLE001 - every failure counts
                failures.append(exc)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    after: set[str] = set()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        after = {server.get()[1] for _ in range(20)}
        if not after & before:
            break
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join(10)
    assert failures == []
    assert len(statuses) > 100
    assert set(statuses) == {200}
    assert not after & before  # every worker was replaced
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(15) == 0


def test_max_requests_recycles_the_worker_without_failing_requests(server_factory) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(max_requests=10)
    results = [server.get() for _ in range(35)]
    assert {status for status, _ in results} == {200}
    assert len({pid for _, pid in results}) >= 3
    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(15) == 0


def _connect_outcome(port: int) -> str:
    """Connect and send a request: "refused", "answered", or "reset" (what must never be)."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    except (ConnectionRefusedError, ConnectionResetError):
        # NOTE: reset before connect() returned: the kernel had completed the handshake into
        # the listening socket's queue, and the last worker closed that socket just after its
        # final accept (every prefork server has this window). No request was sent and the
        # server never accepted it, so for the client it is a refusal (seen once in a loaded
        # CI run). A reset after connecting, with the request sent, must never happen.
        return "refused"
    with sock:
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        except (ConnectionResetError, BrokenPipeError):
            return "reset"
        except TimeoutError:
            return "unanswered"
    return "answered" if data.startswith(b"HTTP/1.1 200") else f"closed unanswered {data[:50]!r}"


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_sigterm_stops_listening_everywhere_first_then_drains(server_factory, workers: int) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(workers=workers)
    assert server.get()[0] == 200
    in_flight: list[tuple[int, str]] = []
    threads = [
        threading.Thread(target=lambda: in_flight.append(server.get("/slow"))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # the slow requests are in the workers' hands
    server.proc.send_signal(signal.SIGTERM)
    # While the in-flight requests finish, a new connection is refused, never accepted and reset
    # (one that a worker still accepts in the moment after the signal is answered).
    outcomes = [_connect_outcome(server.port)]
    deadline = time.monotonic() + 5
    while outcomes[-1] != "refused" and time.monotonic() < deadline:
        time.sleep(0.01)
        outcomes.append(_connect_outcome(server.port))
    outcomes += [_connect_outcome(server.port) for _ in range(20)]
    for thread in threads:
        thread.join(10)
    assert set(outcomes) <= {"refused", "answered"}, outcomes
    assert outcomes[-20:] == ["refused"] * 20, outcomes
    assert [status for status, _ in in_flight] == [200, 200, 200]
    assert server.proc.wait(15) == 0


def test_sighup_under_keep_alive_load_never_drops_a_request_on_a_pooled_connection(
    server_factory,
) -> None:  # type: ignore[no-untyped-def]
    # As a proxy does: each client keeps its connection and sends the next request at once; a
    # connection the server is done with must end with an answer carrying connection: close,
    # never with a close that crosses the next request (http.client: RemoteDisconnected/reset).
    server = server_factory(workers=2)
    failures: list[BaseException] = []
    closes: list[int] = []
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        while not stop.is_set():
            try:
                conn.request("POST", "/", body=b"x" * 100)
                response = conn.getresponse()
                response.read()
                statuses.append(response.status)
                if response.getheader("connection") == "close":
                    closes.append(1)
                    conn.close()  # http.client reconnects on the next request
            except BaseException as exc:  # noqa: BLE001 - every failure counts
                failures.append(exc)
                conn.close()
        conn.close()

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGHUP)
    time.sleep(4)
    stop.set()
    for thread in threads:
        thread.join(10)
    assert failures == []
    assert set(statuses) == {200}
    assert closes  # the old workers said so in their answers
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(15) == 0
