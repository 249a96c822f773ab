"""The Autobahn TestSuite fuzzing cases (driven by kosoku) against the WebSocket server.

Accepted failure: 7.1.5 (a Close frame in the middle of a fragmented message). The websockets
sans-I/O layer answers it with 1002 "incomplete fragmented message" where Autobahn wants 1000;
that is the protocol library's deliberate strictness, not something this server re-implements.
Cases 9.* (performance), 12.* and 13.* (permessage-deflate) take minutes; they run when
CELERIS_AUTOBAHN_FULL=1, one case at a time. Checked on 2026-11-24 (2-CPU VM): 12.* 90 of 90
and 13.* 126 of 126 pass. Run two at a time, 12.3.15 and 12.3.16 (1,000 messages of 128 KiB
in 256- and 1,024-byte compressed fragments, ~15 s of server CPU each) can pass kosoku's 20 s
per-case limit when both sides share the two CPUs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ACCEPTED_FAILURES = {"7.1.5"}
GOOD = {"OK", "NON-STRICT", "INFORMATIONAL"}

ECHO = """
async def app(scope, receive, send):
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message.get("text"), "bytes": message.get("bytes")})
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


FULL = os.environ.get("CELERIS_AUTOBAHN_FULL") == "1"


@pytest.mark.timeout(3700 if FULL else 120)
def test_autobahn_fuzzing_cases(tmp_path: Path) -> None:
    kosoku = shutil.which("kosoku") or str(Path(sys.executable).parent / "kosoku")
    if not Path(kosoku).exists():
        pytest.skip("kosoku (the Autobahn runner) is not installed")
    (tmp_path / "autobahn_echo.py").write_text(ECHO)
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from celeris.server import run; run('autobahn_echo:app', port={port}, access_log=False, log_level='warning')",
        ],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])
            ),
        },
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        args = [kosoku, f"127.0.0.1:{port}", "-o", str(tmp_path / "reports")]
        args += ["-p", "1"] if FULL else ["-p", "2", "-x", "9.*", "-x", "12.*", "-x", "13.*"]
        subprocess.run(args, capture_output=True, timeout=3600 if FULL else 600, check=False)
    finally:
        server.terminate()
        server.wait(30)
    results = {}
    for report in (tmp_path / "reports").glob("*.json"):
        data = json.loads(report.read_text())
        if isinstance(data, dict) and "id" in data:
            results[data["id"]] = (data["behavior"], data["behaviorClose"])
    assert len(results) >= 240
    failing = {
        case
        for case, (behavior, close) in results.items()
        if behavior not in GOOD or close not in GOOD
    }
    assert failing <= ACCEPTED_FAILURES, sorted(failing)
