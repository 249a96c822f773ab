"""bench/checks.py: the correctness checks accept right answers and reject wrong ones.

The pure validators are fed known answers; the HTTP checks run against the raw floor app
(bench/apps/raw_app.py) started as a real server process.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.checks import CheckFailed
from hypothesis import given
from hypothesis import strategies as st

from bench import checks

ROOT = Path(__file__).resolve().parents[2]
TEXT = {"content-type": "text/plain; charset=utf-8"}
JSON = {"content-type": "application/json"}
HTML = {"content-type": "text/html; charset=utf-8"}
FORTUNES = [
    (1, "fortune: No such file or directory"),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (11, "&lt;script&gt;alert(&#34;x&#34;);&lt;/script&gt;"),
    (0, "Additional fortune added at request time."),
    *[(i, f"Z filler {i}") for i in range(3, 13) if i != 11],
]


def _page(rows: list[tuple[int, str]]) -> bytes:
    body = "".join(f"<tr><td>{i}</td><td>{m}</td></tr>" for i, m in rows)
    return f"<table><tr><th>id</th><th>message</th></tr>{body}</table>".encode()


def _sorted(rows: list[tuple[int, str]]) -> list[tuple[int, str]]:
    unescape = {"&lt;": "<", "&gt;": ">", "&#34;": '"'}

    def key(row: tuple[int, str]) -> str:
        text = row[1]
        for k, v in unescape.items():
            text = text.replace(k, v)
        return text

    return sorted(rows, key=key)


def test_plaintext_validator() -> None:
    checks.validate_plaintext((200, TEXT, b"Hello, World!"))
    with pytest.raises(CheckFailed, match="body"):
        checks.validate_plaintext((200, TEXT, b"Hello, World"))
    with pytest.raises(CheckFailed, match="content-type"):
        checks.validate_plaintext((200, JSON, b"Hello, World!"))
    with pytest.raises(CheckFailed, match="status 500"):
        checks.validate_plaintext((500, TEXT, b"Hello, World!"))


def test_json_validator() -> None:
    checks.validate_json((200, JSON, b'{"message":"Hello, World!"}'))
    with pytest.raises(CheckFailed, match="wrong object"):
        checks.validate_json((200, JSON, b'{"message":"Hi"}'))
    with pytest.raises(CheckFailed, match="not JSON"):
        checks.validate_json((200, JSON, b"{"))


@given(st.integers(), st.integers())
def test_world_validator_bounds(world_id: int, number: int) -> None:
    ok = 1 <= world_id <= 10_000 and 1 <= number <= 10_000
    world = {"id": world_id, "randomNumber": number}
    if ok:
        checks.validate_world(world, "db")
    else:
        with pytest.raises(CheckFailed):
            checks.validate_world(world, "db")


def test_world_validator_rejects_wrong_shapes() -> None:
    for bad in ({"id": 1}, {"id": 1, "randomnumber": 2}, {"id": True, "randomNumber": 2}, [1, 2]):
        with pytest.raises(CheckFailed):
            checks.validate_world(bad, "db")


def test_worlds_validator_counts_rows() -> None:
    rows = json.dumps([{"id": 1, "randomNumber": 2}] * 3).encode()
    checks.validate_worlds((200, JSON, rows), 3, "queries")
    with pytest.raises(CheckFailed, match="want 20"):
        checks.validate_worlds((200, JSON, rows), 20, "queries")


def test_fortunes_validator() -> None:
    checks.validate_fortunes((200, HTML, _page(_sorted(FORTUNES))))
    with pytest.raises(CheckFailed, match="not sorted"):
        checks.validate_fortunes((200, HTML, _page(list(reversed(_sorted(FORTUNES))))))
    with pytest.raises(CheckFailed, match="12 rows"):
        checks.validate_fortunes((200, HTML, _page(_sorted(FORTUNES)[:-1])))
    unescaped = [(i, m.replace("&lt;", "<").replace("&gt;", ">")) for i, m in FORTUNES]
    with pytest.raises(CheckFailed, match="not escaped"):
        checks.validate_fortunes((200, HTML, _page(unescaped)))
    no_extra = [r for r in FORTUNES if r[0] != 0] + [(12, "Y another")]
    with pytest.raises(CheckFailed, match="added fortune"):
        checks.validate_fortunes((200, HTML, _page(_sorted(no_extra))))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def floor_port() -> Iterator[int]:
    """Run the raw uvloop + httptools floor as a real server process."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.apps.raw_app", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the raw floor app did not start")
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("name", ["plaintext", "json", "pipelined", "params", "post"])
def test_http_checks_pass_on_the_floor(floor_port: int, name: str) -> None:
    checks.CHECKS[name](floor_port)


def test_check_catches_a_wrong_path(floor_port: int) -> None:
    reply = checks.fetch(floor_port, "GET", "/nowhere")
    assert reply[0] == 404
    with pytest.raises(CheckFailed):
        checks.validate_plaintext(reply)


def test_malformed_request_gets_400_not_a_hang(floor_port: int) -> None:
    with socket.create_connection(("127.0.0.1", floor_port), timeout=5) as sock:
        sock.sendall(b"GARBAGE\x00\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")
