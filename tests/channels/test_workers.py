"""Real server: ``celeris serve --workers 2`` on Redis; a WebSocket client on one worker gets
what requests to either worker publish (the fan-out across processes, on the fast lane)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from websockets.sync.client import connect

pytestmark = pytest.mark.e2e

APP = textwrap.dedent(
    """
    import os
    from celeris import App, Request, WebSocket
    from celeris.channels import Channels

    app = App()
    channels = Channels(app=app, history=100)  # CHANNELS_URL from the environment

    @app.post("/rooms/{room}")
    async def say(room: str, request: Request) -> dict:
        body = await request.json()
        return {"id": await channels.publish(room, {**body, "worker": os.getpid()})}

    @app.get("/rooms/{room}/events")
    async def events(room: str, request: Request):
        return channels.events(room, request=request, ping=0.5)

    @app.websocket("/ws/{room}")
    async def listen(ws: WebSocket, room: str, last_id: str | None = None) -> None:
        await ws.accept()
        await ws.send_json({"worker": os.getpid()})
        await channels.websocket(ws, room, last_id=last_id)
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(port: int, path: str, body: dict) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "POST",
            path,
            json.dumps(body),
            {"Connection": "close", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        assert response.status == 200
        return json.loads(response.read())
    finally:
        conn.close()


@pytest.fixture
def server(tmp_path: Path, redis_url: str):
    (tmp_path / "channels_app.py").write_text(APP)
    port = free_port()
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{src}", "CHANNELS_URL": redis_url}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celeris",
            "serve",
            "channels_app:app",
            "--workers",
            "2",
            "--port",
            str(port),
            "--no-access-log",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("the server did not start")
            time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def test_websocket_gets_messages_published_on_any_worker(server: int) -> None:
    room = f"e2e:{uuid.uuid4().hex}"
    with connect(f"ws://127.0.0.1:{server}/ws/{room}", open_timeout=10) as ws:
        mine = json.loads(ws.recv(timeout=10))["worker"]
        time.sleep(0.3)  # the subscription reaches the Redis reader
        sent = [post(server, f"/rooms/{room}", {"n": n})["id"] for n in range(20)]
        frames = [json.loads(ws.recv(timeout=10)) for _ in range(20)]
    assert [f["data"]["n"] for f in frames] == list(range(20))
    assert [f["id"] for f in frames] == sent
    publishers = {f["data"]["worker"] for f in frames}
    assert publishers - {mine}, "every publish landed on the subscriber's own worker"
    # a client that comes back with the last id it saw gets what it missed, from any worker
    for n in range(20, 23):
        post(server, f"/rooms/{room}", {"n": n})
    with connect(f"ws://127.0.0.1:{server}/ws/{room}?last_id={frames[-1]['id']}") as ws:
        ws.recv(timeout=10)
        missed = [json.loads(ws.recv(timeout=10))["data"]["n"] for _ in range(3)]
    assert missed == [20, 21, 22]


def read_events(port: int, path: str, n: int, last_event_id: str | None = None) -> list[dict]:
    """Open an event stream and return its first ``n`` events as {"id", "data"} dicts."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("content-type").startswith("text/event-stream")
        events: list[dict] = []
        event: dict = {}
        while len(events) < n:
            line = response.readline().decode().rstrip("\n")
            if line.startswith("id: "):
                event["id"] = line[4:]
            elif line.startswith("data: "):
                event["data"] = json.loads(line[6:])
            elif line == "" and event:
                events.append(event)
                event = {}
        return events
    finally:
        conn.close()


def test_server_sent_events_resume_with_last_event_id(server: int) -> None:
    room = f"e2e:{uuid.uuid4().hex}"
    ids = [post(server, f"/rooms/{room}", {"n": n})["id"] for n in range(5)]
    # NOTE: what an EventSource sends when it reconnects after the second event
    events = read_events(server, f"/rooms/{room}/events", 3, last_event_id=ids[1])
    assert [e["id"] for e in events] == ids[2:]
    assert [e["data"]["n"] for e in events] == [2, 3, 4]
