from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

APP = """
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b"hello from " + scope["path"].encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"server exited early with {proc.returncode}: {proc.stderr.read()!r}"
            )  # type: ignore[union-attr]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listened on port {port} within {timeout}s")


@pytest.mark.e2e
def test_serve_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    (tmp_path / "tests_app_module.py").write_text(APP)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "celeris", "serve", "tests_app_module:app", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, proc)
        response = httpx.get(f"http://127.0.0.1:{port}/ping", timeout=10)
        assert response.status_code == 200
        assert response.text == "hello from /ping"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


BROKEN = """
from celeris import App

app = App()


@app.get("/boom")
async def boom() -> str:
    raise RuntimeError("kaboom")
"""


def _serve_once(tmp_path: Path, command: str, *flags: str) -> httpx.Response:
    (tmp_path / "tests_broken_app.py").write_text(BROKEN)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celeris",
            command,
            "tests_broken_app:app",
            "--port",
            str(port),
            *flags,
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, proc)
        return httpx.get(f"http://127.0.0.1:{port}/boom", timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]


@pytest.mark.e2e
@pytest.mark.parametrize("flags", [(), ("--no-reload",)], ids=["reload", "no-reload"])
def test_celeris_run_serves_a_celeris_apps_errors_with_their_traceback(
    tmp_path: Path, flags: tuple[str, ...]
) -> None:
    response = _serve_once(tmp_path, "run", *flags)
    assert response.status_code == 500
    body = response.json()
    assert body["detail"] == "RuntimeError: kaboom"
    assert any("raise RuntimeError" in line for line in body["traceback"])


@pytest.mark.e2e
def test_celeris_serve_keeps_tracebacks_to_itself(tmp_path: Path) -> None:
    response = _serve_once(tmp_path, "serve")
    assert response.status_code == 500
    assert "traceback" not in response.json()


LOGGING_APP = """
import logging

log = logging.getLogger("myapp")


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    log.info("handled %s", scope["path"])
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
"""


@pytest.mark.e2e
def test_serve_logs_json_lines_the_apps_info_logs_and_the_servers_own_413(tmp_path: Path) -> None:
    (tmp_path / "tests_logging_app.py").write_text(LOGGING_APP)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "celeris",
        "serve",
        "tests_logging_app:app",
        "--port",
        str(port),
    ]
    flags = ["--access-log-format", "json", "--limit-request-body", "1MiB"]
    proc = subprocess.Popen(
        [*command, *flags], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for_port(port, proc)
        assert httpx.get(f"http://127.0.0.1:{port}/hello", timeout=10).text == "ok"
        # curl's way: a 2 MiB chunked upload, read after it is all sent, must read the 413.
        big = (b"%x\r\n%s\r\n" % (65536, b"x" * 65536)) * 32 + b"0\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
            sock.sendall(big)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:100]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in out.decode().splitlines()]  # pure JSON lines
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("GET", "/hello", 200),
        ("POST", "/upload", 413),
    ]
    errors = err.decode()
    assert "INFO: handled /hello" in errors  # the app's own logger at INFO
    assert "INFO: celeris: listening on" in errors
    assert '"status"' not in errors
