"""bench/cache and bench/storage: each runner in its tiniest form, on real servers and Redis."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from bench.cache import run as cache_run
from bench.server import Server
from bench.storage import run as storage_run

ROOT = Path(__file__).resolve().parents[2]
PINNED = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
needs_wrk = pytest.mark.skipif(
    shutil.which("wrk") is None or not PINNED, reason="the bench needs wrk, taskset and two CPUs"
)
needs_taskset = pytest.mark.skipif(not PINNED, reason="the bench needs taskset and two CPUs")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _runner(script: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), **env)
    argv = [sys.executable, str(ROOT / "bench" / script), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)


def _cache_run(tmp_path: Path, redis_url: str, contenders: str) -> dict[str, object]:
    done = _runner(
        "cache/run.py",
        ["--rounds", "1", "--duration", "1", "--warmup", "0", "--connections", "4",
         "--contenders", contenders, "--port", str(_free_port()), "--out", str(tmp_path)],
        {"BENCH_REDIS_URL": redis_url},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (result,) = tmp_path.glob("cache-*.json")
    return dict(json.loads(result.read_text()))


@needs_wrk
def test_cache_runner_times_celeris_both_ways_and_cleans_redis(
    tmp_path: Path, redis_url: str
) -> None:
    data = _cache_run(tmp_path, redis_url, "celeris,celeris-cached")
    summary = data["summary"]
    assert isinstance(summary, dict)
    for name in ("celeris", "celeris-cached"):
        assert summary[name]["valid"], summary
        assert summary[name]["rps"] > 0
    assert data["problems"] == {}
    table = (next(tmp_path.glob("cache-*.md"))).read_text()
    assert "| celeris, uncached |" in table
    assert "Load average at the start" in table
    client = redis.Redis.from_url(redis_url)
    assert list(client.scan_iter(match=f"{cache_run.PREFIXES['celeris']}*")) == []
    client.close()


@needs_wrk
@pytest.mark.skipif(
    not (cache_run.VENV / "bin" / "uvicorn").exists(),
    reason="bench/.work/venv-cache is not built (bench/cache/run.py builds it)",
)
def test_cache_runner_times_fastapi_cache2(tmp_path: Path, redis_url: str) -> None:
    data = _cache_run(tmp_path, redis_url, "fastapi-cache2")
    summary = data["summary"]
    assert isinstance(summary, dict)
    assert summary["fastapi-cache2"]["valid"], data
    assert summary["fastapi-cache2"]["rps"] > 0


@needs_taskset
def test_cache_check_refuses_a_route_that_does_not_cache(tmp_path: Path, redis_url: str) -> None:
    # NOTE: /page never stores anything, so checking it as a cached line must fail.
    line = cache_run.Line("wrong", "celeris", "/page", True, "uncached posing as cached")
    contender = cache_run.contender("celeris", None)
    contender = dataclasses.replace(contender, env=(*contender.env, ("BENCH_REDIS_URL", redis_url)))
    server = Server(contender, "", _free_port(), 0, tmp_path / "server.log")
    server.start()
    client = redis.Redis.from_url(redis_url)
    try:
        cache_run.clear(client, cache_run.PREFIXES["celeris"])
        with pytest.raises(cache_run.CheckFailed, match="nothing stored in Redis"):
            cache_run.check(line, server.port, client)
        cache_run.check(cache_run.BY_NAME["celeris-cached"], server.port, client)
    finally:
        server.stop()
        cache_run.clear(client, cache_run.PREFIXES["celeris"])
        client.close()


def test_upload_payload_has_the_size_and_digest_it_claims() -> None:
    size = 3 * storage_run.MIB + 12_345
    pieces, sha = storage_run.payload(size, b"seed")
    data = b"".join(pieces)
    assert len(data) == size
    assert sha.hexdigest() == hashlib.sha256(data).hexdigest()


@needs_taskset
def test_storage_runner_uploads_to_files_and_s3_within_the_limit(tmp_path: Path) -> None:
    done = _runner(
        "storage/run.py",
        ["--size-mib", "8", "--rounds", "1", "--port", str(_free_port()), "--out", str(tmp_path)],
        {},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(next(tmp_path.glob("storage-*.json")).read_text())
    assert data["problems"] == {}
    for target in ("file", "s3"):
        (sample,) = data["samples"][target]
        assert sample["errors"] == []  # the stored bytes matched the SHA-256 sent
        assert sample["peak_kib"] > 0
        assert sample["above_bytes"] < storage_run.LIMIT
        assert sample["processes"] == 1  # one worker: its VmHWM is the whole server's peak
    assert "| S3 API (moto's server, `s3://`) |" in next(tmp_path.glob("storage-*.md")).read_text()
