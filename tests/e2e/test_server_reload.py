"""``reload=True`` restarts the server when a source file changes."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"VERSION"})
"""


def _get(port: int) -> str | None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/")
        body = conn.getresponse().read().decode()
        conn.close()
        return body
    except OSError:
        return None


def _wait_for(port: int, expected: str, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _get(port) == expected:
            return True
        time.sleep(0.1)
    return False


def test_reload_picks_up_changed_code(tmp_path: Path) -> None:
    (tmp_path / "reload_app.py").write_text(APP.replace("VERSION", "one"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from celeris.server import run; run('reload_app:app', port={port}, reload=True, access_log=False)",
        ],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])
            ),
        },
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait_for(port, "one")
        time.sleep(0.5)
        (tmp_path / "reload_app.py").write_text(APP.replace("VERSION", "two"))
        assert _wait_for(port, "two")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_reload_needs_an_import_string() -> None:
    from celeris.server import run

    async def app(scope: object, receive: object, send: object) -> None: ...

    with pytest.raises(TypeError, match="import string"):
        run(app, reload=True)
