"""Shared helpers for tests that start a real server process or drive headless Chromium."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

CHROMIUM = os.environ.get("CELERIS_CHROMIUM", "/usr/bin/chromium")
REQUIRE = os.environ.get("CELERIS_REQUIRE_SERVICES") == "1"
# Flags for a root sandbox with no outside network (see the machine notes in DEVELOPERS.md).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(
    argv: Sequence[str], ready_url: str, *, cwd: Path, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process until ``ready_url`` answers 200; stop it (SIGTERM) afterwards."""
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env or os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"the test server did not start: {err[-2000:]}")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stderr:
            proc.stderr.close()


def need_chromium() -> None:
    """Skip (or fail under CELERIS_REQUIRE_SERVICES=1) when Chromium or Playwright is missing."""
    reason = None
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    elif importlib.util.find_spec("playwright") is None:
        reason = "playwright (Python) is not installed"
    if reason is None:
        return
    if REQUIRE:
        pytest.fail(f"CELERIS_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def block_outside(page: Any, blocked: list[str]) -> None:
    """Let ``page`` reach only localhost; record and abort every other request in ``blocked``."""

    def guard(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
