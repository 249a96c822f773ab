"""bench/channels: the fan-out client's frame parsing, the report, and the runner in its tiniest
form on real servers and Redis (Django Channels only when its venv is built)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bench.channels import client as fanout
from bench.channels import run as fanout_run

ROOT = Path(__file__).resolve().parents[2]
needs_taskset = pytest.mark.skipif(
    shutil.which("taskset") is None or (os.cpu_count() or 1) < 2,
    reason="the bench needs taskset and two CPUs",
)
needs_peers = pytest.mark.skipif(
    not (fanout_run.VENV / "bin" / "daphne").exists(),
    reason="bench/.venv-channels-peers is not built (bench/channels/run.py builds it)",
)


def _frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A server's (unmasked) frame, with the 7-bit or the 16-bit length."""
    if len(payload) < 126:
        return bytes((0x80 | opcode, len(payload))) + payload
    return bytes((0x80 | opcode, 126)) + len(payload).to_bytes(2, "big") + payload


async def test_client_counts_frames_split_at_any_byte() -> None:
    tally = fanout.Tally(subscribers=1)
    tally.window_from = tally.first_timed = 1
    sub = fanout.Subscriber(b"", tally, asyncio.get_running_loop().create_future())
    small = json.dumps({"channel": "c", "id": None, "data": {"seq": 1, "p": 0, "t": 0.0}}).encode()
    large = json.dumps({"seq": 2, "p": 0, "t": 0.0, "pad": "x" * 300}).encode()  # 16-bit length
    wire = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    wire += _frame(small) + _frame(large) + _frame((1001).to_bytes(2, "big"), opcode=0x8)
    for i in range(len(wire)):
        sub.data_received(wire[i : i + 1])
    assert sub.opened.done()
    assert sub.upgraded
    assert tally.counts == {1: 1, 2: 1}
    assert tally.completed == 2
    assert tally.ready == 1
    assert tally.disorder == 0
    assert len(tally.latencies) == 2
    assert sub.closed_with == "closed by the server: 1001"


async def test_client_refuses_a_handshake_that_is_not_101() -> None:
    tally = fanout.Tally(subscribers=1)
    opened = asyncio.get_running_loop().create_future()
    sub = fanout.Subscriber(b"", tally, opened)
    sub.data_received(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
    with pytest.raises(ConnectionError, match="handshake refused"):
        await opened


def _sample(**changes: Any) -> dict[str, Any]:
    sample: dict[str, Any] = {
        "ok": True, "lost": 0, "deliveries_per_s": 1000.0, "broadcasts_per_s": 1.0,
        "p50_ms": 1.0, "p99_ms": 2.0, "connect_s": 0.1, "subscribed_s": 0.1,
        "rss_before_kib": 1000, "rss_connected_kib": 2000, "rss_peak_kib": 2000,
        "client_cpu_share": 0.1, "server_cpu_share": 0.9, "server_cpu_us_per_delivery": 10.0,
    }  # fmt: skip
    return sample | changes


def test_a_round_that_lost_deliveries_makes_its_row_invalid() -> None:
    rows = ["celeris-pubsub", "django-pubsub"]
    summary = {
        "celeris-pubsub": fanout_run.summarize([_sample(deliveries_per_s=3000.0)]),
        "django-pubsub": fanout_run.summarize([_sample(), _sample(ok=False, lost=7)]),
    }
    assert summary["celeris-pubsub"]["valid"]
    assert not summary["django-pubsub"]["valid"]
    meta = {"date": "d", "subscribers": 1000, "workers": 1, "rounds": 2, "duration": 1,
            "warmup": 0, "window": 8, "publishers": 4, "uptime": "up", "machine": "m", "versions": "v",
            "command": "c"}  # fmt: skip
    table = fanout_run.render({"rows": rows, "summary": summary, "problems": {}, "meta": meta})
    assert "INVALID: 7 lost or out of order" in table
    # NOTE: no valid Django row: nothing to divide by, so no ratio is claimed
    assert "| celeris Channels, Redis pub/sub (`celeris serve`) | 3,000 | - |" in table


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(tmp_path: Path, redis_url: str, contenders: str) -> dict[str, Any]:
    argv = [sys.executable, str(ROOT / "bench" / "channels" / "run.py"), "--rounds", "1",
            "--duration", "1", "--warmup", "0.2", "--subscribers", "50", "--contenders",
            contenders, "--port", str(_free_port()), "--out", str(tmp_path)]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), BENCH_REDIS_URL=redis_url)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=100, env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (result,) = tmp_path.glob("*.json")
    return dict(json.loads(result.read_text()))


@needs_taskset
def test_runner_times_both_celeris_rows_and_every_delivery_arrives(
    tmp_path: Path, redis_url: str
) -> None:
    data = _run(tmp_path, redis_url, "celeris-pubsub,celeris-streams")
    assert data["problems"] == {}
    for name in ("celeris-pubsub", "celeris-streams"):
        (sample,) = data["samples"][name]
        assert sample["ok"], sample
        assert sample["broadcasts"] > 0
        assert sample["deliveries"] == sample["expected"] == 50 * sample["broadcasts"]
        assert sample["rss_connected_kib"] > 0
        assert sample["server_cpu_us_per_delivery"] > 0
    table = next(tmp_path.glob("*.md")).read_text()
    assert "| celeris Channels, Redis Streams, `history=1000` (resumable) |" in table
    assert "`uptime` at the start:" in table


@needs_taskset
@needs_peers
def test_runner_times_django_channels_beside_celeris(tmp_path: Path, redis_url: str) -> None:
    data = _run(tmp_path, redis_url, "celeris-pubsub,django-redis,django-pubsub")
    assert data["problems"] == {}
    for name in ("celeris-pubsub", "django-redis", "django-pubsub"):
        assert data["summary"][name]["valid"], data["samples"][name]
        assert data["summary"][name]["lost"] == 0
    table = next(tmp_path.glob("*.md")).read_text()
    assert "| Django Channels, `RedisChannelLayer` (daphne) |" in table
