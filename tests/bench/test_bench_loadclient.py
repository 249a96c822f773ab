"""bench/loadclient.py: the WebSocket check and echo load, and the idle-connection holder,
against real servers (uvicorn with a bare echo app, and the raw floor)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT = str(ROOT / "bench" / "loadclient.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{argv} did not start")


@pytest.fixture(scope="module")
def echo_port() -> Iterator[int]:
    port = _free_port()
    proc = _serve(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).parent),
         "ws_echo_app:app", "--port", str(port), "--log-level", "warning"],
        port,
    )  # fmt: skip
    yield port
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def floor_port() -> Iterator[int]:
    port = _free_port()
    proc = _serve([sys.executable, "-m", "bench.apps.raw_app", str(port)], port)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def _client(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, CLIENT, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_websocket_check_passes_on_an_echo_server(echo_port: int) -> None:
    done = _client("check", str(echo_port))
    assert done.returncode == 0, done.stderr


def test_websocket_check_fails_where_there_is_no_websocket(floor_port: int) -> None:
    assert _client("check", str(floor_port)).returncode != 0


def test_echo_load_counts_messages(echo_port: int) -> None:
    done = _client("ws", str(echo_port), "1", "2")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["errors"] == []
    assert out["messages"] > 10
    assert out["per_sec"] > 0
    assert 0 < out["p50_ms"] <= out["p99_ms"]


def test_idle_holds_connections_until_stdin_closes(floor_port: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, CLIENT, "idle", str(floor_port), "40"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    out = json.loads(proc.stdout.readline())
    assert out["connected"] == 40
    assert out["answered"] == 40
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    proc.stdout.close()


def test_unknown_mode_is_refused() -> None:
    done = _client("dance", "1")
    assert done.returncode != 0
    assert "unknown mode" in done.stderr
