"""Two ``celeris serve`` processes sharing Redis: a retry sent to the other process is replayed,
and a retry while the first still runs there gets 409; the handler runs once either way."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

APP = textwrap.dedent(
    """
    import asyncio, os
    from celeris import App
    from celeris.cache import Cache, Idempotency

    app = App()
    cache = Cache(app=app, url=os.environ["IDEM_REDIS"], namespace=os.environ["IDEM_NS"])
    idempotency = Idempotency(cache=cache, required=True)
    RUNS = os.environ["IDEM_RUNS"]

    @app.post("/charge", steps=[idempotency], status_code=201)
    async def charge(body: dict) -> dict:
        with open(RUNS, "a") as f:
            f.write(f"{body['id']} {os.getpid()}\\n")
        await asyncio.sleep(body.get("sleep", 0))
        return {"charged": body["id"], "pid": os.getpid()}
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(port: int, body: dict[str, object], key: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(
            "POST",
            "/charge",
            json.dumps(body),
            {"content-type": "application/json", "idempotency-key": f'"{key}"'},
        )
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        conn.close()


@pytest.fixture
def servers(tmp_path: Path, redis_url: str) -> Iterator[tuple[int, int, Path]]:
    (tmp_path / "idem_app.py").write_text(APP)
    runs = tmp_path / "runs.txt"
    runs.touch()
    src = Path(__file__).resolve().parents[2] / "src"
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{src}",
        "IDEM_REDIS": redis_url,
        "IDEM_NS": f"test:{uuid.uuid4().hex[:12]}:",
        "IDEM_RUNS": str(runs),
    }
    ports = (free_port(), free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "celeris", "serve", "idem_app:app", "--port", str(port)]
            + ["--no-access-log"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        deadline = time.monotonic() + 30
        for port, proc in zip(ports, procs, strict=True):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        pytest.fail("a server did not start")
                    time.sleep(0.1)
        yield ports[0], ports[1], runs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def test_a_retry_on_the_other_process_is_replayed(servers: tuple[int, int, Path]) -> None:
    a, b, runs = servers
    key = str(uuid.uuid4())
    status, headers, body = post(a, {"id": "one"}, key)
    assert status == 201
    assert "idempotent-replayed" not in headers
    status2, headers2, body2 = post(b, {"id": "one"}, key)
    assert status2 == 201
    assert headers2["idempotent-replayed"] == "true"
    assert body2 == body  # the same pid: process A's answer, replayed by B
    assert json.loads(body2)["pid"] != 0
    status3, _, _ = post(b, {"id": "other"}, key)
    assert status3 == 422
    assert runs.read_text().splitlines() == [f"one {json.loads(body)['pid']}"]


def test_a_concurrent_retry_on_the_other_process_is_409(servers: tuple[int, int, Path]) -> None:
    a, b, runs = servers
    key = str(uuid.uuid4())
    body = {"id": "slow", "sleep": 1.5}
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, a, body, key)
        deadline = time.monotonic() + 10
        while not runs.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)  # until A is inside the handler
        status, headers, problem = post(b, body, key)
        assert status == 409, problem
        assert headers["content-type"] == "application/problem+json"
        assert headers["retry-after"] == "1"
        done = first.result(timeout=15)
    assert done[0] == 201
    replay = post(b, body, key)
    assert replay[0] == 201
    assert replay[1]["idempotent-replayed"] == "true"
    assert replay[2] == done[2]
    assert len(runs.read_text().splitlines()) == 1
