"""On the real server: limits and HSTS follow X-Forwarded-* only from a trusted proxy."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import pytest

from tests.browser import free_port, serving

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e

APP = """
from celeris import App
from celeris.security import RateLimiter, SecurityHeaders

app = App()
SecurityHeaders(app=app)
limiter = RateLimiter(app=app)


@app.get("/limited")
@limiter.limit("2/minute")
async def limited() -> str:
    return "ok"
"""


@pytest.mark.parametrize("trusted", [False, True], ids=["no-proxy", "trusted-proxy"])
def test_forwarded_headers_count_only_from_a_trusted_proxy(tmp_path: Path, trusted: bool) -> None:
    (tmp_path / "proxied.py").write_text(APP)
    port = free_port()
    argv = [sys.executable, "-m", "celeris", "serve", "proxied:app", "--port", str(port)]
    if trusted:
        argv += ["--forwarded-allow-ips", "127.0.0.1"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT / "src")])}
    url = f"http://127.0.0.1:{port}"
    with serving(argv, url + "/limited", cwd=tmp_path, env=env), httpx.Client(base_url=url) as c:
        # the readiness probe spent one of the two requests of 127.0.0.1
        codes = [
            c.get("/limited", headers={"x-forwarded-for": f"203.0.113.{i}"}).status_code
            for i in range(3)
        ]
        r = c.get(
            "/limited", headers={"x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.7"}
        )
    if trusted:
        assert codes == [200, 200, 200]  # each forwarded client has its own window
        assert r.status_code == 200
        assert r.headers["strict-transport-security"].startswith("max-age=")
    else:
        assert codes == [200, 429, 429]  # spoofed headers change nothing: one peer, one window
        assert "strict-transport-security" not in r.headers
