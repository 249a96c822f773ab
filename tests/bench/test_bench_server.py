"""bench/server.py: start a contender pinned to a CPU, measure it, stop it (real processes)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from bench.contenders import BY_NAME, Contender
from bench.server import Server, ServerError, port_free

BIN = str(Path(sys.executable).parent)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_floor_starts_answers_and_stops(tmp_path: Path) -> None:
    port = _free_port()
    server = Server(BY_NAME["raw-uvloop"], BIN, port, 0, tmp_path / "floor.log")
    assert server.argv[:3] == ["taskset", "-c", "0"]
    server.start()
    try:
        assert server.alive()
        assert server.cold_start_ms > 0
        assert server.rss_kib() > 1000
        assert server.sockets() >= 1  # the listening socket
        assert server.pids()[0] == server.proc.pid  # type: ignore[union-attr]
        with socket.create_connection(("127.0.0.1", port)) as held:
            held.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
            assert held.recv(100).startswith(b"HTTP/1.1 200")
    finally:
        server.stop()
    assert not server.alive()
    assert port_free(port)


def test_a_server_that_exits_is_reported(tmp_path: Path) -> None:
    broken = Contender(
        "broken", "x", "x", "bench.apps.no_such_app", ("{bin}/python", "-m", "{module}")
    )
    server = Server(broken, BIN, _free_port(), 0, tmp_path / "broken.log")
    with pytest.raises(ServerError, match="exited with 1"):
        server.start()
    assert "No module named" in (tmp_path / "broken.log").read_text()


def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    silent = Contender(
        "silent", "x", "x", "-", ("{bin}/python", "-c", "import time; time.sleep(60)")
    )
    server = Server(silent, BIN, _free_port(), 0, tmp_path / "silent.log")
    with pytest.raises(ServerError, match="no answer within"):
        server.start(timeout=1.0)
    assert not server.alive()


def test_contender_env_reaches_the_server(tmp_path: Path) -> None:
    port = _free_port()
    probe = Contender(
        "probe", "x", "x", "-",
        ("{bin}/python", "-c", "import os; print(os.environ['BENCH_PROBE'], flush=True)"),
        env=(("BENCH_PROBE", "hello-env"),),
    )  # fmt: skip
    server = Server(probe, BIN, port, 0, tmp_path / "probe.log")
    with pytest.raises(ServerError):
        server.start(timeout=2.0)
    assert "hello-env" in (tmp_path / "probe.log").read_text()
