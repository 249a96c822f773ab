"""A short wrk run of ``GET /me`` with a bearer token: celeris serve against uvicorn + FastAPI.

Pinned like ``bench/run.py``: the server on CPU 0, wrk (one thread) on CPU 1; one worker each.

  PYTHONPATH=src .venv/bin/python bench/auth/wrk_run.py [--seconds 5] [--connections 32]
"""

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.auth.apps import (  # noqa: E402
    EMAIL,
    PASSWORD,
    SECRET,
    celeris_app,
    fastapi_app,
    fastapi_setup,
)
from bench.auth.count import POSTGRES, postgres_database, running  # noqa: E402

BIN = Path(sys.executable).parent


async def prepare(url: str) -> tuple[str, str]:
    """Create both apps' user; return (celeris personal token, FastAPI JWT)."""
    app, auth = celeris_app(url)
    async with running(app):
        user = await auth.create_user(EMAIL, PASSWORD)
        token, _ = await auth.create_token(user, "wrk")
    _, engine, password_hash = fastapi_app(url)
    await fastapi_setup(engine, password_hash)
    await engine.dispose()
    claims = {"sub": EMAIL, "exp": datetime.now(UTC) + timedelta(hours=1)}
    return token, jwt.encode(claims, SECRET, algorithm="HS256")


def wait_for(port: int) -> None:
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def run(
    argv: list[str], port: int, token: str, args: argparse.Namespace, env: dict[str, str]
) -> str:
    server = subprocess.Popen(["taskset", "-c", "0", *argv], env=env, cwd=ROOT)
    try:
        wait_for(port)
        header = f"Authorization: Bearer {token}"
        target = f"http://127.0.0.1:{port}/me"
        check = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", header, target],
            capture_output=True,
            text=True,
        )
        if check.stdout != "200":
            raise SystemExit(f"{argv[0]}: GET /me answered {check.stdout}")
        wrk = ["taskset", "-c", "1", "wrk", "-t1", f"-c{args.connections}", "-H", header]
        subprocess.run([*wrk, "-d2s", target], capture_output=True, check=True)  # warm-up
        out = subprocess.run(
            [*wrk, f"-d{args.seconds}s", "--latency", target],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
        return (
            f"{float(rate.group(1)) if rate else 0:,.0f} req/s, p99 {p99.group(1) if p99 else '?'}"
            + (f", {errors.group(1)} non-2xx (INVALID)" if errors else "")
        )
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=POSTGRES)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    async def go() -> None:
        async with postgres_database(args.database) as url:
            celeris_token, fastapi_token = await prepare(url)
            env = {**os.environ, "BENCH_AUTH_DATABASE": url, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
            celeris = [
                str(BIN / "python"),
                "-m",
                "celeris",
                "serve",
                "bench.auth.server_apps:celeris",
                "--port",
                "8611",
                "--workers",
                "1",
                "--no-access-log",
                "--timeout-keep-alive",
                "60",
            ]
            uvicorn = [
                str(BIN / "uvicorn"),
                "bench.auth.server_apps:fastapi",
                "--port",
                "8612",
                "--workers",
                "1",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ]
            print(f"celeris serve, personal token: {run(celeris, 8611, celeris_token, args, env)}")
            print(f"uvicorn + FastAPI, JWT recipe: {run(uvicorn, 8612, fastapi_token, args, env)}")

    asyncio.run(go())


if __name__ == "__main__":
    main()
